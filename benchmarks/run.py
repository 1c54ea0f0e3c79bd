"""Benchmark harness: each case times reval and a peer doing the same job, in one run.

``python benchmarks/run.py --write BENCHMARKS.md`` rewrites the table between the
markers in BENCHMARKS.md. Each side runs in its own fresh process (so peak memory is
that side's alone) and the median wall time of the repeats is reported; the ratio
(reval / peer) is what carries over between machines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("startup", "ingest", "matching", "national", "nightly", "reports", "portal", "stress")


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
# written with Arrow's CSV writer: the 11-million-row file takes seconds, not minutes
WRITE_MATCH_CSV = (
    "import pyarrow as pa, pyarrow.csv as pacsv\n"
    "frame = matching_data(int(sys.argv[2]), int(sys.argv[3]))\n"
    "pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), sys.argv[1])\n"
)

PEERS_DIR = ROOT / "benchmarks" / "matching_peers"
PEER_REQUIREMENTS = ROOT / "benchmarks" / "peers-requirements.txt"
TIME_CAP_S = 600
MEMORY_CAP_GB = 12
SLOW_S = 120
"""A run slower than this is not repeated (its ratio to reval is not in doubt)."""
COVARIATES = "x1,x2,x3,x4,b"
REVAL_ENV = {"PYTHONPATH": str(ROOT / "src"), "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class Run:
    """One capped process: wall time, the timed part it reported, peak RSS, its answer."""

    wall: float
    inner: float | None
    peak_mb: float
    answer: dict
    capped: str = ""
    cpu: float = 0.0
    """User + system CPU seconds of the process: less sensitive to a busy machine than wall."""
    """"" when it finished; else what stopped it ("time", "memory")."""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_GB * 2**30, MEMORY_CAP_GB * 2**30))


def run_capped(argv: list[str]) -> Run:
    """Run a program under the caps (wall time; address space, so it fails to allocate
    rather than swap or wake the OOM killer); its wall time, peak RSS and JSON answer."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, env={**os.environ, **REVAL_ENV},
                                   preexec_fn=_limit_memory, start_new_session=True)  # fmt: skip
        timer = threading.Timer(TIME_CAP_S, os.killpg, (process.pid, signal.SIGKILL))
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    peak = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    if status != 0:
        if wall >= TIME_CAP_S:
            return Run(wall, None, peak, {}, capped="time", cpu=cpu)
        if any(word in stderr for word in ("MemoryError", "Unable to allocate", "bad_alloc",
                                           "cannot allocate", "Cannot allocate")):  # fmt: skip
            return Run(wall, None, peak, {}, capped="memory", cpu=cpu)
        raise RuntimeError(f"{' '.join(argv[:3])} failed ({status}):\n{stderr[-3000:]}")
    text = stdout.strip()
    answer = json.loads(
        text if text.startswith("{") and text.endswith("}") else text.splitlines()[-1]
    )
    return Run(wall, answer.get("seconds"), peak, answer, cpu=cpu)


def peers_python(work: Path) -> str:
    """The peers' own virtualenv (.bench/peers-venv), made on first use from the pins in
    benchmarks/peers-requirements.txt: psmpy and causalml never enter reval's dependencies."""
    venv = work / "peers-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = PEER_REQUIREMENTS.read_text(encoding="utf-8")
    if not (stamp.exists() and stamp.read_text(encoding="utf-8") == wanted):
        print(f"installing the matching peers into {venv} (first use)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(PEER_REQUIREMENTS)], check=True)  # fmt: skip
        stamp.write_text(wanted, encoding="utf-8")
    return str(python)


def reval_cli(csv: Path) -> list[str]:
    """``reval match --json``: the whole process a user runs (start-up, read, score, match,
    balance, effect and SE, JSON out)."""
    executable = Path(sys.executable).with_name("reval")
    return [str(executable), "match", "--data", str(csv), "--treatment", "treat",
            "--covariates", COVARIATES, "--outcome", "y", "--distance", "logit",
            "--caliper", "0.2", "--json"]  # fmt: skip


def matching_file(work: Path, n_t: int, n_c: int) -> Path:
    path = work / f"matching_{n_t}_{n_c}.csv"
    if not path.exists():
        subprocess.run([sys.executable, "-c", MATCH_DATA + WRITE_MATCH_CSV, str(path),
                        str(n_t), str(n_c)], check=True)  # fmt: skip
    return path


def match_setup(file: str = "", n_t: int = 0, n_c: int = 0, with_balance: bool = False) -> str:
    return f"FILE = {file!r}\nN_T = {n_t}\nN_C = {n_c}\nBALANCE = {with_balance}\n" + MATCH_SETUP


def interleaved(
    commands: dict[str, list[str]], repeats: int, slow_s: float = SLOW_S
) -> dict[str, list[Run]]:
    """Each command ``repeats`` times, the order rotating every round (as run_ingest does) so
    a neighbour's load drifting during the run weighs on every side alike; a command that
    hit a cap or took longer than ``slow_s`` is not run again."""
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    names = list(commands)
    for i in range(repeats):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            done = runs[name]
            if done and (done[-1].capped or done[-1].wall > slow_s):
                continue
            done.append(run_capped(commands[name]))
            last = done[-1]
            print(f"  {name}: {last.capped or f'{last.wall:.2f} s'} (timed part "
                  f"{last.inner if last.inner is None else round(last.inner, 3)} s), "
                  f"{last.peak_mb:.0f} MB", file=sys.stderr, flush=True)  # fmt: skip
    return runs


def _median(runs: list[Run], part: str) -> float | None:
    values = [getattr(r, part) for r in runs if not r.capped and getattr(r, part) is not None]
    return statistics.median(values) if values else None


def _seconds(runs: list[Run], part: str) -> str:
    if runs and runs[-1].capped:
        return f"> {TIME_CAP_S} s cap" if runs[-1].capped == "time" else f"> {MEMORY_CAP_GB} GB cap"
    value = _median(runs, part)
    return "-" if value is None else f"{value:.2f}"


def _ratio(peer: list[Run], ours: float | None, part: str) -> str:
    if ours is None or not peer:
        return "-"
    if peer[-1].capped == "time":
        return f"> {TIME_CAP_S / ours:,.0f}x"
    if peer[-1].capped:
        return "no result"
    value = _median(peer, part)
    return "-" if value is None else f"**{value / ours:,.1f}x**"


def _answer(runs: list[Run]) -> str:
    if not runs or runs[-1].capped:
        return "- | -"
    a = runs[-1].answer
    pairs = a.get("pairs", a.get("n_matched_treated"))
    return f"{pairs:,} | {a['att']:.3f} ({a['se']:.3f})"


def peers_table(work: Path) -> tuple[list[str], str]:
    """reval, MatchIt, psmpy and causalml on the same CSVs in the same run; the table and
    causalml / reval in process at 10k x 100k."""
    peer = peers_python(work)
    lines = [
        "| data | tool | whole process (s) | its CPU (s) | in process (s) | peak RSS (MB) | pairs "
        "| ATT (SE) | tool / reval, whole process | tool / reval, in process |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    causalml = "-"
    for n_t, n_c in ((2_000, 20_000), (10_000, 100_000)):
        csv = matching_file(work, n_t, n_c)
        print(f"matching peers at {n_t} x {n_c}", file=sys.stderr, flush=True)
        runs = interleaved({
            "reval": reval_cli(csv),
            "reval in process": [sys.executable, str(PEERS_DIR / "reval_match.py"), str(csv)],
            "MatchIt": ["Rscript", str(PEERS_DIR / "matchit_match.R"), str(csv)],
            "psmpy": [peer, str(PEERS_DIR / "psmpy_match.py"), str(csv)],
            "causalml": [peer, str(PEERS_DIR / "causalml_match.py"), str(csv)],
        }, repeats=3)  # fmt: skip
        whole, inner = _median(runs["reval"], "wall"), _median(runs["reval in process"], "inner")
        data = f"{n_t:,} treated x {n_c:,} controls"
        lines.append(
            f"| {data} | reval {_version('reval')} | {whole:.2f} | {_seconds(runs['reval'], 'cpu')} "
            f"| {inner:.3f} | "
            f"{max(r.peak_mb for r in runs['reval']):.0f} | {_answer(runs['reval'])} | 1 | 1 |"
        )
        for name, label in (("MatchIt", f"R MatchIt {_r_version()}"),
                            ("psmpy", "psmpy 0.3.16"), ("causalml", "causalml 0.18.0")):  # fmt: skip
            theirs = runs[name]
            lines.append(
                f"| {data} | {label} | {_seconds(theirs, 'wall')} | {_seconds(theirs, 'cpu')} | "
                f"{_seconds(theirs, 'inner')} | "
                f"{max(r.peak_mb for r in theirs):.0f} | {_answer(theirs)} | "
                f"{_ratio(theirs, whole, 'wall')} | {_ratio(theirs, inner, 'inner')} |"
            )
            causalml = _ratio(theirs, inner, "inner").strip("*") if name == "causalml" else causalml
        print("\n".join(lines[-4:]), file=sys.stderr, flush=True)
    return lines, causalml


def goals_table(work: Path, causalml: str) -> list[str]:
    """Issue 13's goals: whole process against MatchIt at 30k x 300k and `reval match`
    start-up (1M treated x 10M controls is its own section, run_national)."""
    lines = ["| goal | data | reval | peer, same run | result |", "|---|---|---:|---|---:|"]
    tiny = work / "matching_tiny.csv"
    tiny.write_text("".join(matching_file(work, 2_000, 20_000).read_text().splitlines(True)[:301]))
    print("matching start-up", file=sys.stderr, flush=True)
    runs = interleaved({"reval": reval_cli(tiny),
                        "MatchIt": ["Rscript", str(PEERS_DIR / "matchit_match.R"), str(tiny)]},
                       repeats=5)  # fmt: skip
    start_up = _median(runs["reval"], "wall")
    lines.append(
        f"| `reval match` start-up under 1.5 s (`PYTHONDONTWRITEBYTECODE=1`) | 300-row CSV | "
        f"{start_up:.2f} s ({_seconds(runs['reval'], 'cpu')} s CPU) | Rscript + MatchIt, same "
        f"file: {_median(runs['MatchIt'], 'wall'):.2f} s ({_seconds(runs['MatchIt'], 'cpu')} s CPU) "
        f"| {'met' if start_up < 1.5 else 'not met'} |"
    )
    csv = matching_file(work, 30_000, 300_000)
    print("matching whole process at 30k x 300k", file=sys.stderr, flush=True)
    # the figure the goal is about: three runs each unless MatchIt takes over 200 s
    runs = interleaved({"reval": reval_cli(csv),
                        "MatchIt": ["Rscript", str(PEERS_DIR / "matchit_match.R"), str(csv)]},
                       repeats=3, slow_s=TIME_CAP_S / 3)  # fmt: skip
    ours, theirs = _median(runs["reval"], "wall"), _median(runs["MatchIt"], "wall")
    ratio = theirs / ours if ours and theirs else float("nan")
    lines.append(
        f"| whole process >= 10x MatchIt | 30,000 treated x 300,000 controls | {ours:.2f} s "
        f"({_seconds(runs['reval'], 'cpu')} s CPU), {max(r.peak_mb for r in runs['reval']):.0f} MB "
        f"| Rscript read.csv + matchit + lm + vcovCL + JSON: {_seconds(runs['MatchIt'], 'wall')} s "
        f"({_seconds(runs['MatchIt'], 'cpu')} s CPU), "
        f"{max(r.peak_mb for r in runs['MatchIt']):.0f} MB | **{ratio:.1f}x** "
        f"({'met' if ratio >= 10 else 'not met'}) |"
    )
    lines.append(
        f"| in process >= 50x causalml | 10,000 treated x 100,000 controls | see above | "
        f"causalml `NearestNeighborMatch`, see above | **{causalml}** |"
    )
    return lines


def run_national(work: Path) -> str:
    """Issue 13's national-scale goal on its own (`make bench ONLY=national`): 1M treated x
    10M controls through `reval match`, end to end in a fresh process, two runs."""
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.1f} at the start; median of 2 runs of the whole "
        "command (reading the CSV, score, match, effect, JSON out), peak RSS of the process. "
        "No peer: MatchIt's own claim is 10M rows in under a minute.",
        "",
        "| goal | data | reval | result |",
        "|---|---|---:|---:|",
    ]
    csv = matching_file(work, 1_000_000, 10_000_000)
    print("matching 1M x 10M end to end", file=sys.stderr, flush=True)
    runs = interleaved({"reval": reval_cli(csv)}, repeats=2)["reval"]
    seconds, peak = _median(runs, "wall"), max(r.peak_mb for r in runs)
    met = "met" if seconds and seconds < 60 and peak < 8192 else "not met"
    lines.append(
        f"| 1M treated x 10M controls end to end under 60 s and 8 GB | 1,000,000 treated x "
        f"10,000,000 controls, {csv.stat().st_size / 2**20:,.0f} MB CSV | {_seconds(runs, 'wall')} s "
        f"({_seconds(runs, 'cpu')} s CPU), {peak:,.0f} MB | {met} |"
    )
    return "\n".join(lines)


def scaling_rows(work: Path) -> list[str]:
    """Issue 4's figures: the national-scale run and how time grows with the rows."""
    big = matching_file(work, 100_000, 1_000_000)
    national = [
        measure(match_setup(big.name, with_balance=True), MATCH_TIMED, work) for _ in range(2)
    ]
    lines = [
        "| case | data | seconds | peak (MB) | target |",
        "|---|---|---:|---:|---|",
        f"| in process: score, match, balance, effect | 100,000 treated x 1,000,000 controls | "
        f"{statistics.median(m.seconds for m in national):.2f} | "
        f"{max(m.peak_mb for m in national):.0f} (incl. reading the CSV) | 10 s, 2,048 MB |",
        "",
        "How time grows (in process: score, match, balance, effect; 1 treated : 10 controls, "
        "data made in the process):",
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
        print(lines[-1], file=sys.stderr, flush=True)
    slope = float(np.polyfit(np.log10(sizes[1:]), np.log10(times[1:]), 1)[0])
    lines += ["", f"Log-log slope from 10^5 to 10^7 rows: **{slope:.2f}** (1 = linear)."]
    return lines


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _r_version() -> str:
    probe = subprocess.run(["Rscript", "-e", 'cat(as.character(packageVersion("MatchIt")))'],
                           capture_output=True, text=True, check=False)  # fmt: skip
    return probe.stdout.strip() or "?"


def run_matching(work: Path) -> str:
    """reval against R's MatchIt, psmpy and causalml on the same files in the same run,
    the goals of issue 13, and issue 4's scaling figures."""
    load = os.getloadavg()[0]
    peers, causalml = peers_table(work)
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, R MatchIt {_r_version()}; load average "
        f"{load:.1f} at the start (the machine is shared, so seconds are noisy: read the "
        f"ratios). Median of up to 3 runs per tool, tools interleaved, each in a fresh process "
        f"under a {TIME_CAP_S} s / {MEMORY_CAP_GB} GB address-space cap; a run over "
        f"{SLOW_S} s is not repeated (MatchIt at 30k x 300k: over {TIME_CAP_S / 3:.0f} s). Whole "
        "process = wall time of the command, start-up included (`PYTHONDONTWRITEBYTECODE=1`); in process = score + match + effect and SE "
        "(reading not timed); peak RSS = the whole process's.",
        "",
        *peers,
        "",
        *goals_table(work, causalml),
        "",
        *scaling_rows(work),
    ]
    return "\n".join(lines)


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
    import os, tempfile
    if PART == "first":  # no template on this machine yet: Prefect migrates from nothing
        os.environ["REVAL_CACHE_DIR"] = tempfile.mkdtemp(prefix="reval-bench-cache-")
    else:  # reval ran here before: a new workspace's Prefect database starts from its template
        os.environ["REVAL_CACHE_DIR"] = str(Path(WORK) / "cache")
    if PART in ("flow", "night"):
        from flows.local_server import ServerProcess, database_template
        if not database_template().exists():  # the first server on this machine leaves it
            home = os.environ.get("PREFECT_HOME")
            os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="reval-bench-prefect-")
            first = ServerProcess()
            first.start()
            first.stop()
            os.environ.pop("PREFECT_HOME")
            if home is not None:
                os.environ["PREFECT_HOME"] = home
    kept = Path(WORK) / "prefect-of-the-night-before"
    if PART == "night" and (work / "prefect").is_dir():  # Prefect's database stays, as on a server
        shutil.rmtree(kept, ignore_errors=True)
        shutil.move(work / "prefect", kept)
    shutil.rmtree(work, ignore_errors=True)
    settings = Settings(home=work)
    init_workspace(settings)
    if PART == "night" and kept.is_dir():
        shutil.move(kept, work / "prefect")
    if PART in ("first", "flow", "night"):
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
    # the whole command a scheduler or a person runs: a fresh process, Prefect's local
    # server, ingest, models, all 13 reports
    "flow": "import os, subprocess, sys\n"
    "done = subprocess.run([sys.executable, '-m', 'reval.cli', 'run'], capture_output=True, text=True,"
    " env={**os.environ, 'REVAL_HOME': str(settings.home)})\n"
    "assert done.returncode == 0, done.stderr[-3000:]",
    "night": "",  # the same command, set below
    "ingest": "[ingest_file(settings, path) for path in sample_data_files()]",
    "models": "evaluate(settings)",
    "render": "from reval.pipeline import render_reports\nrender_reports(settings)",
}
NIGHTLY_TIMED["night"] = NIGHTLY_TIMED["first"] = NIGHTLY_TIMED["flow"]


def run_nightly(work: Path) -> str:
    """The nightly flow on sample_data/ end to end, and its parts called directly."""

    def seconds(name: str, runs: int = 2) -> list[float]:
        setup = f"PART = {name!r}\n" + NIGHTLY_SETUP
        return [measure(setup, NIGHTLY_TIMED[name], work).seconds for _ in range(runs)]

    parts = {
        name: statistics.median(seconds(name)) for name in ("flow", "ingest", "models", "render")
    }
    parts["night"] = statistics.median(seconds("night", 3)[1:])  # the first makes the database
    parts["first"] = statistics.median(seconds("first"))
    direct = parts["ingest"] + parts["models"] + parts["render"]
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores; load "
        f"average {os.getloadavg()[0]:.1f} at the end; median of 2 runs, each in a fresh process. "
        "Target (issue 13): `reval run` end to end under 45 s.",
        "",
        "| part | seconds |",
        "|---|---:|",
        f"| `reval run` end to end in a new workspace on a machine where reval never ran: a fresh process, Prefect's local server (its database migrated from nothing), the flow (ingest, models, 13 reports HTML + PDF) | {parts['first']:.1f} |",
        f"| `reval run` end to end in a new workspace on a machine where reval ran before: the same, Prefect's database a copy of the template the first server left in reval's cache | {parts['flow']:.1f} |",
        f"| `reval run` end to end on a later night: the same, Prefect's database kept in the workspace from the night before (warehouse emptied, the same files in the inbox) | {parts['night']:.1f} |",
        f"| ingest of the 7 sample files, called directly | {parts['ingest']:.1f} |",
        f"| every model, called directly (`pipeline.evaluate`) | {parts['models']:.1f} |",
        f"| rendering the 13 reports (programme + 6 site + 6 participant, HTML + PDF), called directly | {parts['render']:.1f} |",
        f"| the rest: process start, imports, Prefect's server and orchestration (run - ingest - models - rendering) | {parts['flow'] - direct:.1f} |",
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


def _median_command_seconds(argv: list[str], repeats: int = 5) -> float:
    """Median wall time of a whole command, as a person starting it sees it, on a machine
    that keeps no bytecode cache (PYTHONDONTWRITEBYTECODE=1, as CI machines often set)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_startup(work: Path) -> str:
    """How long commands take to start: the whole process, median of 5, beside bare
    Python and R's MatchIt loading (the peers measured in the same run)."""
    tiny = work / "startup_match.csv"
    code = MATCH_DATA + "matching_data(100, 400).to_csv(sys.argv[1], index=False)"
    subprocess.run([sys.executable, "-c", code, str(tiny)], check=True)
    reval = [sys.executable, "-m", "reval.cli"]
    match = [*reval, "match", "--data", str(tiny), "--treatment", "treat",
             "--covariates", "x1,x2,x3,x4,b", "--outcome", "y", "--json"]  # fmt: skip
    help_s = _median_command_seconds([*reval, "--help"])
    match_s = _median_command_seconds(match)
    python_s = _median_command_seconds([sys.executable, "-c", "pass"])
    r_s = _median_command_seconds(["Rscript", "-e", "suppressMessages(library(MatchIt))"])
    return "\n".join([
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        "PYTHONDONTWRITEBYTECODE=1 (bytecode compiled at install, none written at run time); "
        "median of 5 runs of the whole command.",
        "",
        "| command | seconds | target | peer | peer (s) |",
        "|---|---:|---:|---|---:|",
        f"| `reval --help` | {help_s:.2f} | 0.5 | `python -c pass` | {python_s:.2f} |",
        f"| `reval match --json` on 500 rows (start-up, matching, effect, JSON out) | {match_s:.2f} "
        f"| 1.5 | `Rscript -e 'library(MatchIt)'` (loading only) | {r_s:.2f} |",
    ])  # fmt: skip


def run_stress(work: Path) -> str:
    """10 consecutive `reval run` under a CPU burn on every core (benchmarks/stress_run.py)."""
    import stress_run  # beside this file

    return stress_run.run(work)


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
    runners = {"startup": run_startup, "ingest": run_ingest, "matching": run_matching,
               "national": run_national, "nightly": run_nightly, "reports": run_reports, "portal": run_portal,
               "stress": run_stress}  # fmt: skip
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
