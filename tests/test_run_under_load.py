"""The main job runs every time, even on a busy machine (issue 13): the short version of
benchmarks/stress_run.py. Consecutive `reval run` on one workspace while a CPU-burning
process runs on every core; each must succeed, and Prefect's database stays in the
workspace between runs."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks import stress_run  # the benchmark's own code: one definition of a run


def test_consecutive_runs_succeed_while_every_core_is_busy(tmp_path: Path) -> None:
    home = tmp_path / "workspace"
    (home / "inbox").mkdir(parents=True)
    burners = stress_run.burn_cpus()
    try:
        outcomes = [stress_run.run_once(home) for _ in range(2)]
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert [o.reason for o in outcomes] == ["", ""]
    assert all(o.ok for o in outcomes)
    assert (home / "prefect" / "prefect.db").is_file()  # one Prefect database per workspace
    assert len(os.listdir(home / "reports")) >= 2  # the run's folder and latest/
