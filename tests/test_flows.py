"""The nightly flow, run for real on Prefect's test harness: inbox to stored results,
and a second run over the same inputs adds nothing."""

from __future__ import annotations

import shutil

import pandas as pd

from flows.nightly import nightly_evaluation
from reval.pipeline import sample_data_files
from reval.warehouse import Warehouse


def _counts(settings) -> dict[str, int]:
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        tables = ["ingests", "results", "intended_results", "evaluation_runs", "survey_responses"]
        return {t: warehouse.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _stored(settings, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        return warehouse.stored_results(run_id)


def test_nightly_flow_ingests_the_inbox_and_stores_results_once(
    harness, settings, evaluated_sample, tmp_path
) -> None:
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
    # the flow's per-site tasks give exactly what evaluating the same data directly gives
    direct, direct_run = evaluated_sample(tmp_path / "direct")
    for ours, theirs in zip(_stored(settings, run_id), _stored(direct, direct_run), strict=True):
        pd.testing.assert_frame_equal(ours, theirs)
    # every report is rendered for the run and published as "latest"
    html = (settings.reports_dir / run_id / "programme.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html  # the forest plot, embedded
    assert "Intended versus actual outcomes" in html
    sites = sorted(p.stem for p in sample_data_files() if p.parent.name == "workbooks")
    expected = {"programme"} | {
        f"{kind}-{site}" for kind in ("site", "participant") for site in sites
    }
    for folder in (settings.reports_dir / run_id, settings.reports_dir / "latest"):
        assert {p.stem for p in folder.glob("*.html")} == expected
        assert {p.stem for p in folder.glob("*.pdf")} == expected
    assert (settings.reports_dir / "latest" / "programme.pdf").read_bytes().startswith(b"%PDF")
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


def test_nightly_deployment_runs_at_two_in_the_morning_london_time_one_at_a_time() -> None:
    from flows.deployments import nightly_deployment, upload_deployment

    deployment = nightly_deployment("/srv/reval")
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 2 * * *"
    assert schedule.schedule.timezone == "Europe/London"
    assert deployment.concurrency_limit == 1
    assert deployment.parameters == {"home": "/srv/reval"}
    custom = nightly_deployment("/srv/reval", cron="30 1 * * 1-5", timezone="UTC")
    assert (custom.schedules[0].schedule.cron, custom.schedules[0].schedule.timezone) == (
        "30 1 * * 1-5",
        "UTC",
    )
    assert upload_deployment("/srv/reval").schedules in (None, [])


def test_dask_fan_out_gives_the_same_results_as_the_default_runner(
    harness, tmp_path, evaluated_sample, loaded_sample
) -> None:
    """The default runner's results equal direct evaluation (the end-to-end test above), so
    the Dask run is compared with the direct evaluation of the same data."""
    from distributed import LocalCluster

    from flows.nightly import nightly_on_dask

    default, default_run = evaluated_sample(tmp_path / "default")
    on_dask, _ = loaded_sample(tmp_path / "dask")
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        second = nightly_on_dask(str(on_dask.home), cluster.scheduler_address, render=False)
    ours, ours_intended = _stored(default, default_run)
    theirs, theirs_intended = _stored(on_dask, second)
    assert len(ours) > 200
    pd.testing.assert_frame_equal(ours, theirs)
    pd.testing.assert_frame_equal(ours_intended, theirs_intended)
