"""Benchmark harness: each case times reval and a peer doing the same job, in one run.

``python benchmarks/run.py --write BENCHMARKS.md`` rewrites the table between the
markers in BENCHMARKS.md. Each side runs in its own fresh process (so peak memory is
that side's alone) and the median wall time of the repeats is reported; the ratio
(reval / peer) is what carries over between machines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_mb: float


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    reval: str
    """Python source run in a fresh process; the timed part is between the TIMER marks."""
    peer_name: str
    peer: str
    repeats: int = 3


TIMED = textwrap.dedent(
    """
    import sys, time
    setup = compile(sys.argv[1], "setup", "exec")
    timed = compile(sys.argv[2], "timed", "exec")
    scope = {{"WORK": sys.argv[3]}}
    exec(setup, scope)
    start = time.perf_counter()
    exec(timed, scope)
    print(time.perf_counter() - start)
    """
).format()


def measure(setup: str, timed: str, work: Path) -> Measurement:
    """Run ``timed`` after ``setup`` in a fresh interpreter; its wall time and peak RSS."""
    process = subprocess.Popen(
        [sys.executable, "-c", TIMED, setup, timed, str(work)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read() if process.stdout else ""
    if status != 0:
        raise RuntimeError(f"benchmark process failed ({status}): {output}")
    return Measurement(float(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024)


def survey_csv(rows: int, path: Path) -> Path:
    """A survey upload of ``rows`` responses made from the sample programme's answers."""
    if not path.exists():
        subprocess.run(
            [sys.executable, "-c", MAKE_SURVEY, str(rows), str(path)],
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
    return path


MAKE_SURVEY = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd
    from reval.synthetic_programme import synthetic_programme
    n, out = int(sys.argv[1]), sys.argv[2]
    survey = synthetic_programme().tables["survey_responses"]
    big = pd.concat([survey] * -(-n // len(survey)), ignore_index=True).iloc[:n].copy()
    big["response_id"] = [f"R{i:07d}" for i in range(n)]
    big["respondent_id"] = [f"P{i:07d}" for i in range(n)]
    big["response_date"] = big["response_date"].dt.strftime("%d/%m/%Y")  # UK dates, as sites type them
    big.to_csv(out, index=False)
    """
)

INGEST_SETUP = textwrap.dedent(
    """
    import shutil
    from pathlib import Path
    from reval.config import SAMPLE_DATA_DIR, Settings
    from reval.pipeline import ingest_file
    from reval.synthetic_programme import synthetic_programme
    work = Path(WORK)
    shutil.rmtree(work / "ws", ignore_errors=True)
    settings = Settings(home=work / "ws", max_upload_bytes=2**33, max_unpacked_bytes=2**33)
    synthetic_programme().tables["sites"].to_csv(work / "sites.csv", index=False)
    ingest_file(settings, work / "sites.csv")
    ingest_file(settings, SAMPLE_DATA_DIR / "paradigm_statements.csv")
    """
)
INGEST_TIMED = textwrap.dedent(
    """
    report = ingest_file(settings, work / "survey_1m.csv")
    assert report.status == "loaded" and report.rows_accepted == 1_000_000, report.summary()
    """
)
DUCKDB_SETUP = textwrap.dedent(
    """
    import duckdb
    from pathlib import Path
    work = Path(WORK)
    (work / "peer.duckdb").unlink(missing_ok=True)
    con = duckdb.connect(str(work / "peer.duckdb"))
    """
)
DUCKDB_TIMED = textwrap.dedent(
    """
    con.execute(f"CREATE TABLE survey AS SELECT * FROM read_csv('{work / 'survey_1m.csv'}')")
    assert con.execute("SELECT count(*) FROM survey").fetchone()[0] == 1_000_000
    con.close()
    """
)

WORKBOOKS_SETUP = textwrap.dedent(
    """
    from pathlib import Path
    import pandas as pd
    from reval.config import SAMPLE_DATA_DIR
    from reval.ingest.cleaning import clean_table
    from reval.ingest.readers import read_tables
    from reval.ingest.validation import validate_table
    books = sorted((SAMPLE_DATA_DIR / "workbooks").glob("*.xlsx"))
    """
)
WORKBOOKS_REVAL = "rows = sum(len(validate_table(clean_table(s)).accepted) for b in books for s in read_tables(b).tables)"
WORKBOOKS_PEER = "rows = sum(len(f) for b in books for f in pd.read_excel(b, sheet_name=None, engine='openpyxl').values())"


def cases(work: Path) -> list[tuple[Case, str, str]]:
    survey_csv(1_000_000, work / "survey_1m.csv")
    return [
        (
            Case(
                name="read + clean + validate the sample programme",
                what="6 site workbooks, 7 sheets each, 16,600 rows",
                reval=WORKBOOKS_REVAL,
                peer_name="pandas.read_excel(engine='openpyxl'), reading only",
                peer=WORKBOOKS_PEER,
            ),
            WORKBOOKS_SETUP,
            WORKBOOKS_SETUP,
        ),
        (
            Case(
                name="ingest a survey CSV: read, clean, validate, load into DuckDB",
                what="1,000,000 rows x 49 columns (229 MB), UK dates",
                reval=INGEST_TIMED,
                peer_name="DuckDB read_csv into a table, same file (no validation)",
                peer=DUCKDB_TIMED,
                repeats=2,
            ),
            INGEST_SETUP,
            DUCKDB_SETUP,
        ),
    ]


def run(work: Path) -> str:
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; median wall time of repeated runs, each in a "
        "fresh process; peak = that process's maximum resident memory.",
        "",
        "| case | data | reval (s) | reval peak (MB) | peer | peer (s) | peer peak (MB) | reval / peer |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for case, reval_setup, peer_setup in cases(work):
        ours = [measure(reval_setup, case.reval, work) for _ in range(case.repeats)]
        theirs = [measure(peer_setup, case.peer, work) for _ in range(case.repeats)]
        ours_s = statistics.median(m.seconds for m in ours)
        theirs_s = statistics.median(m.seconds for m in theirs)
        lines.append(
            f"| {case.name} | {case.what} | {ours_s:.2f} | {max(m.peak_mb for m in ours):.0f} | "
            f"{case.peer_name} | {theirs_s:.2f} | {max(m.peak_mb for m in theirs):.0f} | "
            f"{ours_s / theirs_s:.2f} |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines)


def write(path: Path, table: str) -> None:
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="Markdown file whose table to rewrite")
    parser.add_argument("--work", type=Path, help="Scratch folder (default: a temporary one)")
    args = parser.parse_args()
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        table = run(args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="reval-bench-") as scratch:
            table = run(Path(scratch))
    print(table)
    if args.write:
        write(args.write, table)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"benchmarks took {time.perf_counter() - start:.0f} s", file=sys.stderr)
