"""The main job runs every time, even on a busy machine (issue 13): the short version of
benchmarks/stress_run.py. Consecutive `reval run` on one workspace while a CPU-burning
process runs on every core; each must succeed, and Prefect's database stays in the
workspace between runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from benchmarks import stress_run  # the benchmark's own code: one definition of a run


def test_consecutive_runs_succeed_while_every_core_is_busy(
    tmp_path: Path, evaluated_sample
) -> None:
    """Starts from the evaluated sample with its reports marked as rendered, so each run is
    what fails on a busy machine (process start, Prefect's server, the flow, a file to
    ingest) without 13 reports to render; the benchmark renders them."""
    settings, run_id = evaluated_sample(tmp_path / "workspace")
    (settings.reports_dir / run_id).mkdir(parents=True)
    burners = stress_run.burn_cpus()
    try:
        outcomes, waiting = [], []
        for _ in range(2):
            again = settings.inbox_dir / "again.csv"
            shutil.copy(stress_run.SAMPLE / "paradigm_statements.csv", again)
            outcomes.append(stress_run.run_once(settings.home))
            waiting.append(again.exists())
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert [o.reason for o in outcomes] == ["", ""]
    assert all(o.ok for o in outcomes)
    assert (settings.home / "prefect" / "prefect.db").is_file()  # its own Prefect database
    assert waiting == [False, False]  # each run took its file out of the inbox
    assert os.listdir(settings.inbox_dir / "processed")
