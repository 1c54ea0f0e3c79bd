"""The nightly evaluation and the per-upload ingest, as Prefect flows.

Wiring only: every task calls a use case in ``reval.pipeline`` or a pure function in
``reval.evaluation``; retries, fan-out and logging are the flow's own concerns.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task, unmapped
from prefect.runtime import flow_run

from reval import pipeline
from reval.config import Settings, load_settings
from reval.evaluation import SiteEvaluation, combine, evaluate_site


def _settings(home: str | None) -> Settings:
    return load_settings() if home is None else Settings(home=Path(home))


@task(retries=2, retry_delay_seconds=[2, 10])
def ingest_waiting_file(home: str | None, path: str) -> dict[str, object]:
    report = pipeline.ingest_inbox_file(_settings(home), Path(path))
    get_run_logger().info(report.summary())
    return report.as_json()


@task
def read_programme(home: str | None) -> tuple[dict[str, pd.DataFrame], str]:
    return pipeline.programme_tables(_settings(home))


@task(retries=1, retry_delay_seconds=5)
def evaluate_one_site(
    tables: dict[str, pd.DataFrame], site: str, home: str | None = None
) -> SiteEvaluation:
    result = evaluate_site(tables, site, contract=pipeline.workspace_contract(_settings(home)))
    logger = get_run_logger()
    if result.failure:
        logger.error("site %s failed: %s", site, result.failure["error"])
    else:
        logger.info("site %s: %d estimates", site, len(result.rows))
    return result


@task
def pool_and_store(home: str | None, run_id: str, started: dt.datetime, tables: dict[str, pd.DataFrame],
                   sites: list[SiteEvaluation], fingerprint: str) -> str:  # fmt: skip
    evaluation = combine(tables, sites, pipeline.workspace_contract(_settings(home)))
    return pipeline.store_evaluation(_settings(home), run_id, started, evaluation, fingerprint)


@task(retries=1, retry_delay_seconds=5)
def render_reports(home: str | None, run_id: str) -> dict[str, str]:
    """Programme, site and participant reports, published to reports/latest/; returns the
    reports that failed (each named with its reason in the log) so the flow can say so."""
    rendered = pipeline.render_reports(_settings(home), run_id)
    logger = get_run_logger()
    logger.info("reports: %s", ", ".join(sorted(rendered.written)))
    for stem, reason in rendered.failed.items():
        logger.error("report %s failed: %s", stem, reason)
    return rendered.failed


def render_isolated(home: str | None, run_id: str) -> dict[str, str]:
    """The render task with its own failure caught: a crash of the whole task (not one
    report, which ``render_reports`` already isolates) is named like a failed report, so
    the flow still says which run was stored and ends failed only after that."""
    state = render_reports(home, run_id, return_state=True)
    if state.is_completed():
        return state.result()
    get_run_logger().error("rendering reports failed: %s", state.message)
    return {"reports": str(state.message)}


@flow(name="nightly_evaluation")
def nightly_evaluation(home: str | None = None, render: bool = True) -> str:
    """Ingest everything waiting in the inbox, fit every model per site (fanned out) and
    pooled, store the results stamped with this flow run's id, and render the reports
    (``render=False`` refits only). Unchanged inputs reuse the stored run instead of
    adding rows."""
    logger = get_run_logger()
    settings = _settings(home)
    pipeline.init_workspace(settings)
    for path in pipeline.waiting_files(settings):  # one writer: files load one after another
        ingest_waiting_file(home, str(path))
    existing = pipeline.run_for_current_inputs(settings)
    if existing is not None:
        logger.info("inputs unchanged since run %s; nothing to refit", existing)
        if render and not (settings.reports_dir / existing).is_dir():
            render_isolated(home, existing)
        return existing
    if render:
        pipeline.warm_report_kernels(settings)  # on the core the models leave idle
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    tables, fingerprint = read_programme(home)
    sites = sorted(tables["sites"]["site_id"])
    parts = evaluate_one_site.map(unmapped(tables), sites, unmapped(home))
    run_id = str(flow_run.get_id() or uuid.uuid4().hex)
    stored = pool_and_store(home, run_id, started, tables, [p.result() for p in parts], fingerprint)
    logger.info("stored run %s", stored)
    failed = render_isolated(home, stored) if render else {}
    if failed:  # the other reports are published; the run still ends failed, loudly
        raise RuntimeError(f"run {stored} stored, but these reports failed: {', '.join(failed)}")
    return stored


def nightly_on_dask(
    home: str | None = None, address: str | None = None, render: bool = True
) -> str:
    """The same flow with the per-site fan-out on Dask: an existing scheduler at
    ``address``, or a local cluster started for this run."""
    from prefect_dask import DaskTaskRunner

    runner = DaskTaskRunner(address=address) if address else DaskTaskRunner(
        cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "dashboard_address": None}
    )  # fmt: skip
    return nightly_evaluation.with_options(task_runner=runner)(home, render)


@flow(name="ingest_upload")
def ingest_upload(
    path: str, home: str | None = None, site_id: str | None = None
) -> dict[str, object]:
    """One uploaded file (from the portal): validated and loaded, problems reported."""
    report = pipeline.ingest_file(_settings(home), Path(path), site_id=site_id)
    get_run_logger().info(report.summary())
    return report.as_json()
