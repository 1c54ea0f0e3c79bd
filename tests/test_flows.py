"""The nightly flow, run for real on Prefect's test harness: inbox to stored results,
and a second run over the same inputs adds nothing."""

from __future__ import annotations

import shutil

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.nightly import nightly_evaluation
from reval.pipeline import sample_data_files
from reval.warehouse import Warehouse


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _counts(settings) -> dict[str, int]:
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        tables = ["ingests", "results", "intended_results", "evaluation_runs", "survey_responses"]
        return {t: warehouse.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_nightly_flow_ingests_the_inbox_and_stores_results_once(harness, settings) -> None:
    settings.inbox_dir.mkdir(parents=True)
    for path in sample_data_files():
        shutil.copy(path, settings.inbox_dir / path.name)
    run_id = nightly_evaluation(str(settings.home))
    first = _counts(settings)
    assert first["ingests"] == len(sample_data_files())
    assert first["results"] > 200
    assert first["intended_results"] == 22
    assert not list(settings.inbox_dir.glob("*.*"))  # every file moved out of the inbox
    assert len(list((settings.inbox_dir / "processed").glob("*"))) == len(sample_data_files())
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        assert warehouse.latest_run() == run_id
    # nothing new arrived: the same run is reported and no row is added
    assert nightly_evaluation(str(settings.home)) == run_id
    assert _counts(settings) == first


def test_a_file_that_fails_to_ingest_waits_in_failed_with_its_problems(harness, settings) -> None:
    settings.inbox_dir.mkdir(parents=True)
    (settings.inbox_dir / "notes.xlsx").write_bytes(b"not a workbook")
    nightly_evaluation(str(settings.home))
    failed = list((settings.inbox_dir / "failed").glob("*"))
    assert sorted(p.suffix for p in failed) == [".txt", ".xlsx"]
    problems = next(p for p in failed if p.suffix == ".txt").read_text()
    assert problems.startswith("notes.xlsx: refused - is really a text (CSV) file")
