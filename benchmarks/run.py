"""Benchmark harness: each case times reval and a peer doing the same job, in one run.

``python benchmarks/run.py --write BENCHMARKS.md`` rewrites the table between the
markers in BENCHMARKS.md. Times are medians of repeated runs on this machine; the
ratio (reval / peer) is what carries over between machines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from reval.config import SAMPLE_DATA_DIR  # noqa: E402
from reval.ingest.cleaning import clean_table  # noqa: E402
from reval.ingest.readers import read_tables  # noqa: E402
from reval.ingest.validation import validate_table  # noqa: E402

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    reval: Callable[[], object]
    peer_name: str
    peer: Callable[[], object]
    repeats: int = 5


def _workbooks() -> list[Path]:
    return sorted((SAMPLE_DATA_DIR / "workbooks").glob("*.xlsx"))


def reval_validate_sample() -> int:
    rows = 0
    for path in _workbooks():
        for sheet in read_tables(path).tables:
            rows += len(validate_table(clean_table(sheet)).accepted)
    return rows


def pandas_read_sample() -> int:
    rows = 0
    for path in _workbooks():
        rows += sum(
            len(f) for f in pd.read_excel(path, sheet_name=None, engine="openpyxl").values()
        )
    return rows


CASES = [
    Case(
        name="read + clean + validate the sample programme",
        what="6 site workbooks, 7 sheets each, 16,600 rows",
        reval=reval_validate_sample,
        peer_name='pandas.read_excel(engine="openpyxl"), reading only',
        peer=pandas_read_sample,
    ),
]


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm caches and imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run() -> str:
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; median of repeated runs.",
        "",
        "| case | data | reval (s) | peer | peer (s) | reval / peer |",
        "|---|---|---:|---|---:|---:|",
    ]
    for case in CASES:
        ours = median_seconds(case.reval, case.repeats)
        theirs = median_seconds(case.peer, case.repeats)
        lines.append(
            f"| {case.name} | {case.what} | {ours:.2f} | {case.peer_name} | {theirs:.2f} | "
            f"{ours / theirs:.2f} |"
        )
    return "\n".join(lines)


def write(path: Path, table: str) -> None:
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="Markdown file whose table to rewrite")
    args = parser.parse_args()
    table = run()
    print(table)
    if args.write:
        write(args.write, table)


if __name__ == "__main__":
    main()
