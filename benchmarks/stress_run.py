"""Stress test of the main job: consecutive `reval run` on one workspace while a CPU-burning
process runs on every core (issue 13: Prefect's local server used to miss its 20 s start-up
limit on a busy machine, so the nightly run failed 2 times in 5).

The first run loads the sample programme from the inbox, fits every model and renders every
report; each later run finds a sample file dropped into the inbox again (the same bytes:
"already loaded"), so it starts Prefect's server, runs the flow and reuses the stored run.
The peer, measured in the same run on a copy of the same workspace, is the flow called the
way Prefect runs it by default (its 20 s start-up limit, no retry), so the table shows what
reval's start-up handling changes. Usage::

    python benchmarks/stress_run.py [--runs 10] [--peer-runs 5] [--work DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
RUN_TIMEOUT = 900.0
"""Seconds one run may take before it is counted as failed (a hang is a failure)."""

PEER_FLOW = (
    "import sys\n"
    "from reval.config import Settings, apply_prefect_offline_defaults\n"
    "apply_prefect_offline_defaults()\n"
    "from flows.nightly import nightly_evaluation\n"
    "nightly_evaluation(sys.argv[1])\n"
)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    seconds: float
    reason: str


def burn_cpus() -> list[subprocess.Popen[bytes]]:
    """One busy-looping process per core, at normal priority."""
    return [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]


def sample_files() -> list[Path]:
    return [SAMPLE / "paradigm_statements.csv", *sorted((SAMPLE / "workbooks").glob("*.xlsx"))]


def _environment(home: Path, peer: bool) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "REVAL_HOME"))
    }
    env |= {"REVAL_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1", "DO_NOT_TRACK": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    if peer:  # Prefect as it comes: its default start-up limit, its default home
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "20"
        env["PREFECT_HOME"] = str(home / "prefect")
    return env


def run_once(home: Path, peer: bool = False) -> Outcome:
    """One run in a fresh process; ok when it exits 0 within the time limit."""
    reval = [sys.executable, "-m", "reval.cli", "run"]
    argv = [sys.executable, "-c", PEER_FLOW, str(home)] if peer else reval
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv, env=_environment(home, peer), capture_output=True, text=True,
            timeout=RUN_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Outcome(False, time.perf_counter() - start, f"no answer in {RUN_TIMEOUT:.0f} s")
    seconds = time.perf_counter() - start
    if done.returncode == 0:
        return Outcome(True, seconds, "")
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    timed_out = [line for line in lines if "Timed out" in line or "could not start" in line]
    return Outcome(False, seconds, (timed_out or lines or ["?"])[-1][:200])


def runs(home: Path, count: int, peer: bool, first: int = 0) -> list[Outcome]:
    outcomes = []
    for i in range(first, first + count):
        if i:  # the same file again: the flow ingests it ("already loaded") and reuses the run
            shutil.copy(SAMPLE / "paradigm_statements.csv", home / "inbox" / "again.csv")
        outcomes.append(run_once(home, peer))
        status = "ok" if outcomes[-1].ok else f"FAILED: {outcomes[-1].reason}"
        side = "peer" if peer else "reval"
        print(
            f"  {side} run {len(outcomes)}/{count}: {outcomes[-1].seconds:.1f} s {status}",
            flush=True,
        )
    return outcomes


def run(work: Path, count: int = 10, peer_count: int = 5) -> str:
    """Both sides under the same CPU burn; returns the Markdown for BENCHMARKS.md."""
    home, peer_home = work / "stress", work / "stress-peer"
    for folder in (home, peer_home):
        shutil.rmtree(folder, ignore_errors=True)
    (home / "inbox").mkdir(parents=True)
    for path in sample_files():
        shutil.copy(path, home / "inbox" / path.name)
    burners = burn_cpus()
    try:
        ours = runs(home, count, peer=False)
        # the peer starts where reval's first run left the workspace (loaded, evaluated,
        # reported), so its runs differ from reval's later runs only in how Prefect starts
        shutil.copytree(home, peer_home, ignore=shutil.ignore_patterns("*.lock"))
        theirs = runs(peer_home, peer_count, peer=True, first=1)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    ok = sum(o.ok for o in ours)
    peer_ok = sum(o.ok for o in theirs)
    later = [o.seconds for o in ours[1:]] or [float("nan")]
    peer_times = [o.seconds for o in theirs]
    reasons = sorted({o.reason for o in ours + theirs if not o.ok})
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"with {len(burners)} CPU-burning processes (one per core) running throughout; each run "
        "a fresh process. reval's run 1 loads the sample programme, fits every model and renders "
        "all 13 reports; every later run (and every peer run, on a copy of the workspace after "
        "run 1) ingests a file again and reuses the stored run.",
        "",
        "| side | runs | succeeded | run 1 (s) | later runs, median (s) | later runs, max (s) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| `reval run` (180 s start-up limit, one retry) | {count} | **{ok}/{count}** | "
        f"{ours[0].seconds:.1f} | {statistics.median(later):.1f} | {max(later):.1f} |",
        f"| peer: the same flow on Prefect's defaults (20 s limit, no retry) | {peer_count} | "
        f"{peer_ok}/{peer_count} | - | {statistics.median(peer_times):.1f} | "
        f"{max(peer_times):.1f} |",
    ]
    if reasons:
        lines += ["", "Failures: " + "; ".join(f"`{r}`" for r in reasons)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--peer-runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=ROOT / ".bench")
    args = parser.parse_args()
    print(run(args.work, args.runs, args.peer_runs))


if __name__ == "__main__":
    main()
