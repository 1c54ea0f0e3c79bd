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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("ingest", "matching", "nightly", "reports", "portal")


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
    return measure_command([sys.executable, "-c", TIMED, setup, timed, str(work)])


def measure_command(argv: list[str]) -> Measurement:
    """Run a program that prints its own timed seconds last; that and its peak RSS."""
    process = subprocess.Popen(
        argv,
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


MATCH_DATA = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd

    def matching_data(n_t, n_c, seed=42):
        rng = np.random.default_rng(seed)
        n = n_t + n_c
        x = rng.normal(size=(n, 4))
        b = rng.random(n) < 0.4
        score = 0.5 * x[:, 0] - 0.3 * x[:, 1] + 0.2 * x[:, 2] + 0.4 * b
        treat = np.zeros(n, int)
        treat[np.argsort(-(score + rng.gumbel(size=n)))[:n_t]] = 1
        y = 1.0 + x @ np.array([1.0, 0.5, -0.5, 0.2]) + 0.3 * b + 0.5 * treat + rng.normal(size=n)
        return pd.DataFrame({"treat": treat, "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2],
                             "x4": x[:, 3], "b": b.astype(int), "y": y})
    """
)
MATCH_SETUP = MATCH_DATA + textwrap.dedent(
    """
    from pathlib import Path
    from reval.matching import balance, effect, match
    frame = pd.read_csv(Path(WORK) / FILE) if FILE else matching_data(N_T, N_C)
    """
)
MATCH_TIMED = textwrap.dedent(
    """
    sample = match(frame, "treat", ["x1", "x2", "x3", "x4", "b"], distance="logit", caliper=0.2)
    result = effect(sample, "y")
    if BALANCE:
        balance(sample)
    """
)
R_MATCH = textwrap.dedent(
    """
    suppressPackageStartupMessages({library(MatchIt); library(sandwich)})
    d <- read.csv(commandArgs(trailingOnly = TRUE)[1])
    start <- proc.time()[["elapsed"]]
    m <- matchit(treat ~ x1 + x2 + x3 + x4 + b, data = d, method = "nearest", distance = "glm",
                 link = "linear.logit", caliper = 0.2, ratio = 1, replace = FALSE)
    md <- match.data(m)
    fit <- lm(y ~ treat, data = md, weights = weights)
    se <- sqrt(vcovCL(fit, cluster = ~subclass)["treat", "treat"])
    cat(proc.time()[["elapsed"]] - start, "\n")
    """
)


def matching_file(work: Path, n_t: int, n_c: int) -> str:
    name = f"matching_{n_t}_{n_c}.csv"
    if not (work / name).exists():
        code = MATCH_DATA + f"matching_data({n_t}, {n_c}).to_csv(sys.argv[1], index=False)"
        subprocess.run([sys.executable, "-c", code, str(work / name)], check=True)
    return name


def match_setup(file: str = "", n_t: int = 0, n_c: int = 0, with_balance: bool = False) -> str:
    return f"FILE = {file!r}\nN_T = {n_t}\nN_C = {n_c}\nBALANCE = {with_balance}\n" + MATCH_SETUP


def matching_rows(work: Path) -> list[str]:
    """Matching: reval against R's MatchIt on the same file, the national-scale run, and
    how time grows with the number of rows."""
    lines = [
        "",
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores; "
        "median wall time, each run in a fresh process.",
        "",
        "| case | data | reval (s) | reval peak (MB) | peer | peer (s) | peer peak (MB) | peer / reval |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]
    name = matching_file(work, 10_000, 100_000)
    ours = [measure(match_setup(name), MATCH_TIMED, work) for _ in range(3)]
    script = work / "matchit_bench.R"
    script.write_text(R_MATCH, encoding="utf-8")
    theirs = [measure_command(["Rscript", str(script), str(work / name)]) for _ in range(3)]
    ours_s = statistics.median(m.seconds for m in ours)
    theirs_s = statistics.median(m.seconds for m in theirs)
    lines.append(
        f"| propensity score + 1:1 NN without replacement, caliper 0.2 (logit) + ATT with "
        f"cluster-robust SE | 10,000 treated x 100,000 controls, 5 covariates (same CSV; reading "
        f"not timed) | {ours_s:.2f} | {max(m.peak_mb for m in ours):.0f} | R MatchIt "
        f"{_r_version()} matchit() + lm + sandwich::vcovCL | {theirs_s:.2f} | "
        f"{max(m.peak_mb for m in theirs):.0f} | {theirs_s / ours_s:.1f}x |"
    )
    print(lines[-1], flush=True)
    big = matching_file(work, 100_000, 1_000_000)
    national = [measure(match_setup(big, with_balance=True), MATCH_TIMED, work) for _ in range(2)]
    lines.append(
        f"| end to end: score, match, balance, effect | 100,000 treated x 1,000,000 controls | "
        f"{statistics.median(m.seconds for m in national):.2f} | "
        f"{max(m.peak_mb for m in national):.0f} (incl. reading the CSV) | target | 10 | 2048 | - |"
    )
    print(lines[-1], flush=True)
    lines += [
        "",
        "How time grows (end to end, 1 treated : 10 controls, data made in the process):",
        "",
        "| rows | seconds | peak (MB) |",
        "|---:|---:|---:|",
    ]
    sizes, times = [], []
    for rows in (10_000, 100_000, 1_000_000, 10_000_000):
        n_t = rows // 11
        result = measure(match_setup("", n_t, rows - n_t, with_balance=True), MATCH_TIMED, work)
        sizes.append(rows)
        times.append(result.seconds)
        lines.append(f"| {rows:,} | {result.seconds:.2f} | {result.peak_mb:.0f} |")
        print(lines[-1], flush=True)
    slope = float(np.polyfit(np.log10(sizes[1:]), np.log10(times[1:]), 1)[0])
    lines += ["", f"Log-log slope from 10^5 to 10^7 rows: **{slope:.2f}** (1 = linear)."]
    return lines


def _r_version() -> str:
    probe = subprocess.run(["Rscript", "-e", 'cat(as.character(packageVersion("MatchIt")))'],
                           capture_output=True, text=True, check=False)  # fmt: skip
    return probe.stdout.strip() or "?"


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
                repeats=4,
            ),
            INGEST_SETUP,
            DUCKDB_SETUP,
        ),
    ]


def run_ingest(work: Path) -> str:
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; median wall time of repeated runs (reval and peer "
        "interleaved), each in a fresh process; peak = that process's maximum resident memory.",
        "",
        "| case | data | reval (s) | reval peak (MB) | peer | peer (s) | peer peak (MB) | reval / peer |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for case, reval_setup, peer_setup in cases(work):
        # interleaved (reval, peer, peer, reval, ...) so a neighbour's load drifting during
        # the run weighs on both sides alike, not on whichever side ran second
        ours, theirs = [], []
        for i in range(case.repeats):
            sides = [(ours, reval_setup, case.reval), (theirs, peer_setup, case.peer)]
            for results, setup, timed in sides if i % 2 == 0 else sides[::-1]:
                results.append(measure(setup, timed, work))
        ours_s = statistics.median(m.seconds for m in ours)
        theirs_s = statistics.median(m.seconds for m in theirs)
        lines.append(
            f"| {case.name} | {case.what} | {ours_s:.2f} | {max(m.peak_mb for m in ours):.0f} | "
            f"{case.peer_name} | {theirs_s:.2f} | {max(m.peak_mb for m in theirs):.0f} | "
            f"{ours_s / theirs_s:.2f} |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines)


NIGHTLY_SETUP = textwrap.dedent(
    """
    import shutil
    from pathlib import Path
    from reval.config import Settings, apply_prefect_offline_defaults
    from reval.pipeline import evaluate, ingest_file, init_workspace, sample_data_files
    apply_prefect_offline_defaults()
    work = Path(WORK) / PART
    shutil.rmtree(work, ignore_errors=True)
    settings = Settings(home=work)
    init_workspace(settings)
    if PART == "flow":
        for path in sample_data_files():
            shutil.copy(path, settings.inbox_dir / path.name)
    elif PART in ("models", "render"):
        for path in sample_data_files():
            ingest_file(settings, path)
        if PART == "render":
            evaluate(settings)
    """
)
NIGHTLY_TIMED = {
    "flow": "from flows.nightly import nightly_evaluation\nnightly_evaluation(str(settings.home))",
    "ingest": "[ingest_file(settings, path) for path in sample_data_files()]",
    "models": "evaluate(settings)",
    "render": "from reval.pipeline import render_reports\nrender_reports(settings)",
}


def run_nightly(work: Path) -> str:
    """The nightly flow on sample_data/ end to end, and its parts called directly."""
    parts = {
        name: statistics.median(
            m.seconds for m in [measure(f"PART = {name!r}\n" + NIGHTLY_SETUP, NIGHTLY_TIMED[name], work)
                                for _ in range(2)]
        )
        for name in ("flow", "ingest", "models", "render")
    }  # fmt: skip
    direct = parts["ingest"] + parts["models"] + parts["render"]
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores; median "
        "of 2 runs, each in a fresh process. Target: the whole flow under 2 minutes.",
        "",
        "| part | seconds |",
        "|---|---:|",
        f"| whole nightly flow (`nightly_evaluation`, incl. Prefect's ephemeral server) | {parts['flow']:.1f} |",
        f"| ingest of the 7 sample files, called directly | {parts['ingest']:.1f} |",
        f"| every model, called directly (`pipeline.evaluate`) | {parts['models']:.1f} |",
        f"| rendering the 13 reports (programme + 6 site + 6 participant, HTML + PDF), called directly | {parts['render']:.1f} |",
        f"| Prefect overhead (flow - ingest - models - rendering) | {parts['flow'] - direct:.1f} |",
        "",
        f"Flow / direct calls: **{parts['flow'] / direct:.2f}x**.",
    ]
    return "\n".join(lines)


REPORT_TIMED = {
    "programme": "from reval.pipeline import render_reports\nrender_reports(settings, kinds=('programme',))",
    "all": "from reval.pipeline import render_reports\nrender_reports(settings)",
    # the peer: the same source executed by the bare toolchain, HTML only (no PDF)
    "peer": "import subprocess, sys\ndone = subprocess.run([sys.executable, '-m', 'jupyter', 'nbconvert', "
    "'--to', 'html', '--execute', str(notebook)], capture_output=True, text=True)\n"
    "assert done.returncode == 0, done.stderr[-3000:]",
}
REPORT_SETUP = NIGHTLY_SETUP.replace('PART in ("models", "render")', "True").replace(
    'if PART == "render":', "if True:"
) + textwrap.dedent(
    """
    import jupytext, nbformat
    from reval.config import REPORTS_SOURCE_DIR
    source = jupytext.read(REPORTS_SOURCE_DIR / "programme.py")
    source.cells.insert(2, nbformat.v4.new_code_cell(f"home = {str(work.resolve())!r}"))
    notebook = REPORTS_SOURCE_DIR / f".bench-{PART}.ipynb"
    nbformat.write(source, notebook)
    """
)


def run_reports(work: Path) -> str:
    """Rendering time: the programme report alone (cold kernel, HTML + PDF), all 13
    reports, and the bare toolchain (jupyter nbconvert --execute, HTML only) on the same
    programme source."""
    times = {}
    for name in ("programme", "peer", "all"):
        runs = [
            measure(f"PART = {name!r}\n" + REPORT_SETUP, REPORT_TIMED[name], work) for _ in range(2)
        ]
        times[name] = statistics.median(m.seconds for m in runs)
    for leftover in (ROOT / "reports").glob(".bench-*"):
        leftover.unlink()
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, built-in "
        "renderer (no Quarto); median of 2 runs, each in a fresh process. Target: the programme "
        "report under 30 seconds.",
        "",
        "| what | seconds |",
        "|---|---:|",
        f"| programme report, HTML + PDF (`render_reports(kinds=('programme',))`, cold kernel) | {times['programme']:.1f} |",
        f"| peer: `jupyter nbconvert --to html --execute` of the same source, HTML only | {times['peer']:.1f} |",
        f"| all 13 reports, HTML + PDF (two warm kernels, one per core) | {times['all']:.1f} |",
        "",
        f"reval / bare nbconvert on the programme report: **{times['programme'] / times['peer']:.2f}x** "
        "(reval also writes the PDF).",
    ]  # fmt: skip
    return "\n".join(lines)


def run_matching(work: Path) -> str:
    return "\n".join(matching_rows(work)[1:])


def run_portal(work: Path) -> str:
    """50 concurrent uploads from 10 sites through the real portal, and the same files
    through ingest_file directly (benchmarks/portal_load.py)."""
    import portal_load  # beside this file

    return portal_load.run(work / "portal")


def write(path: Path, section: str, table: str) -> None:
    start, end = f"<!-- bench:{section}:start -->", f"<!-- bench:{section}:end -->"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{table}\n{end}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="Markdown file whose tables to rewrite")
    parser.add_argument("--work", type=Path, help="Scratch folder (default: a temporary one)")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="Run only these sections")
    args = parser.parse_args()
    runners = {"ingest": run_ingest, "matching": run_matching, "nightly": run_nightly,
               "reports": run_reports, "portal": run_portal}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="reval-bench-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        for section in args.only or SECTIONS:
            table = runners[section](work)
            print(table)
            if args.write:
                write(args.write, section, table)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"benchmarks took {time.perf_counter() - start:.0f} s", file=sys.stderr)
