"""Reading what a report shows: one short, read-only visit to the warehouse.

Kept apart from :mod:`reval.pipeline` so a report's kernel imports only the warehouse and
the report content (not the model and ingest stacks): each report renders seconds faster.
"""

from __future__ import annotations

import json

import pandas as pd

from reval.config import Settings
from reval.contract import programme_contract
from reval.errors import RevalError
from reval.programme import load_programme
from reval.reporting.content import (
    ReportInputs,
    consented_story_rows,
    empowers_means,
    statement_shares,
    use_instruments,
    use_site_names,
    use_wave_names,
)
from reval.reporting.disclosure import withhold_small_estimates
from reval.warehouse import Warehouse

__all__ = ["report_inputs"]


def report_inputs(settings: Settings, run_id: str | None = None,
                  site_id: str | None = None) -> ReportInputs:  # fmt: skip
    """Everything one report shows, read from the warehouse in one short read-only visit.
    Estimates, balance and answer distributions are the run's own (stored with it); value
    items, events, stories and the file log are as they stand now. Only consented story
    texts leave the survey table; no respondent-level row reaches a report."""
    scope = site_id or None
    programme = load_programme(settings.home)
    instruments = programme_contract(programme).instruments
    use_instruments(instruments)  # names of its own batteries
    use_wave_names(programme.waves)
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        run = run_id or warehouse.latest_run()
        if run is None:
            raise RevalError(
                "There are no stored results to report on yet: run 'reval evaluate' first."
            )
        stored = warehouse.run_tables(run, scope)
        responses = warehouse.current("survey_responses", scope)
        statements = warehouse.current("paradigm_statements")
        value_items = warehouse.current("value_items", scope)
        events = warehouse.current("events", scope)
        sites = warehouse.current("sites")
        statements_of_outcomes = warehouse.current("intended_outcomes", scope)
        files = warehouse.ingests()
        rejections = warehouse.rejection_reasons()
    use_site_names(dict(zip(sites["site_id"], sites["site_name"], strict=True)))
    if scope is not None:
        files = files[files["site_id"] == scope]
    rejections = rejections[rejections["ingest_id"].isin(files["ingest_id"])]
    runs = stored["evaluation_runs"]
    return ReportInputs(
        run_id=run, site_id=scope, sites=sites[["site_id", "site_name"]],
        results=withhold_small_estimates(stored["results"]),
        intended=_with_statements(stored["intended_results"], statements_of_outcomes),
        balance=stored["balance_results"], unintended=stored["unintended_results"],
        statement_shares=statement_shares(stored["agreement_counts"], statements),
        empowers=empowers_means(stored["empowers_profile"]), value_items=value_items, events=events,
        stories=consented_story_rows(responses), files=files, rejections=rejections,
        failures=json.loads(runs["failures"].iloc[0]) if len(runs) else [],
        finished_at=f"{runs['finished_at'].iloc[0]:%d %B %Y}" if len(runs) else "",
        title=programme.title, instruments=tuple(i.key for i in instruments),
    )  # fmt: skip


def _with_statements(intended: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Each intended outcome with the statement its site wrote (reports show words, not ids)."""
    if intended.empty or "statement" not in outcomes:
        return intended
    words = outcomes[["site_id", "outcome_id", "statement"]].drop_duplicates(
        ["site_id", "outcome_id"]
    )
    return intended.merge(words, on=["site_id", "outcome_id"], how="left")
