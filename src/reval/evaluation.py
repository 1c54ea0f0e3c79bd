"""Every model for a programme: contract tables in, tidy result frames out.

Pure (no files, no database). Each site's analyses run separately so one site's bad
data or failing model is recorded as a failure and never stops the others; pooled
results come after. Result rows follow one shape so the warehouse, the reports and
``reval results --json`` read them alike.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import pandas as pd

from reval.attrition import attrition, attrition_rows, pooled_attrition
from reval.contract import (
    EMPOWERS_ITEMS,
    OUTCOME_POST,
    PARADIGM_NOW,
    Contract,
    default_contract,
)
from reval.intended import (
    estimates_by_measure,
    gas_by_site,
    intended_vs_actual,
    unintended_outcomes,
)
from reval.matching.programme import matched_effects
from reval.paradigm import agreement_counts, statement_shifts
from reval.revaluation import calculated_value, moved_to_visible
from reval.survey import POOLED, empowers_profile, scored_responses, survey_change

RESULT_COLUMNS: Final[list[str]] = [
    "site_id", "measure", "kind", "wave", "estimate", "ci_low", "ci_high", "n", "status", "message",
]  # fmt: skip
INTENDED_COLUMNS: Final[list[str]] = [
    "site_id", "outcome_id", "measure", "direction", "target", "signed_estimate", "signed_ci_low",
    "signed_ci_high", "classification", "gas_level", "wave", "source", "n", "margin", "p_value",
    "p_adjusted", "fdr_flag", "gas_basis", "why_not_measurable",
]  # fmt: skip


@dataclass(frozen=True)
class Evaluation:
    results: pd.DataFrame
    """One row per estimate (RESULT_COLUMNS); failures are rows with status 'failed'."""
    intended: pd.DataFrame
    """One row per intended outcome (INTENDED_COLUMNS)."""
    balance: pd.DataFrame
    unintended: pd.DataFrame
    failures: list[dict[str, str]] = field(default_factory=list)
    agreement: pd.DataFrame = field(default_factory=pd.DataFrame)
    """People disagreeing / neither / agreeing with each statement per site (and 'all') and wave."""
    empowers: pd.DataFrame = field(default_factory=pd.DataFrame)
    """EMPOWERS profile (mean, interval, n) per site (and 'all'), wave and behaviour."""


def _kind(measure: str) -> str:
    if measure == "paradigm_index":
        return "paradigm_index"
    if measure in EMPOWERS_ITEMS:
        return "empowers"
    return "survey_change"


@dataclass(frozen=True)
class SiteEvaluation:
    """One site's results (or its failure), before pooling."""

    site_id: str
    rows: list[dict[str, object]]
    survey: pd.DataFrame
    matched: pd.DataFrame
    balance: pd.DataFrame
    failure: dict[str, str] | None = None


def evaluate_site(
    tables: dict[str, pd.DataFrame],
    site: str,
    *,
    site_hook: Callable[[str], None] | None = None,
    contract: Contract | None = None,
) -> SiteEvaluation:
    """Every analysis for one site under the programme's ``contract`` (its instruments);
    a failure is caught and returned, never raised."""
    statements = tables["paradigm_statements"]
    responses = tables["survey_responses"]
    records = tables["comparison_records"]
    try:
        if site_hook is not None:
            site_hook(site)
        mine = responses[responses["site_id"] == site]
        scored = scored_responses(mine, statements, contract) if len(mine) else pd.DataFrame()
        change = survey_change(scored, contract=contract) if len(scored) else pd.DataFrame()
        rows = _change_rows(change)
        rows += attrition_rows(attrition(scored, mine, contract=contract)) if len(scored) else []
        shifts = statement_shifts(mine, statements) if len(mine) else pd.DataFrame()
        rows += [
            {"site_id": site, "measure": r.item, "kind": "paradigm_statement", "wave": 1,
             "estimate": r.towards_new, "ci_low": None, "ci_high": None, "n": r.n, "status": "ok",
             "message": f"odds ratio {r.odds_ratio:.2f}, BH-adjusted p {r.p_adjusted:.3g}"}
            for r in shifts.itertuples() if r.site_id == site
        ]  # fmt: skip
        effects, balance = pd.DataFrame(), pd.DataFrame()
        site_records = records[records["site_id"] == site]
        if len(site_records):
            effects, balance = matched_effects(site_records)
            rows += _matched_rows(effects)
        values = tables["value_items"]
        rows += _value_rows(values[values["site_id"] == site])
        return SiteEvaluation(site, rows, change, effects, balance)
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
        row = {"site_id": site, "measure": "all", "kind": "site", "wave": None, "estimate": None,
               "ci_low": None, "ci_high": None, "n": None, "status": "failed", "message": message}  # fmt: skip
        failure = {"site_id": site, "error": message, "detail": traceback.format_exc(limit=3)}
        empty = pd.DataFrame()
        return SiteEvaluation(site, [row], empty, empty, empty, failure)


def combine(
    tables: dict[str, pd.DataFrame], sites: list[SiteEvaluation], contract: Contract | None = None
) -> Evaluation:
    """Pooled results across the sites that succeeded, intended vs actual, GAS, and
    unintended outcomes, joined to the per-site results."""
    responses = tables["survey_responses"]
    records = tables["comparison_records"]
    healthy = [s.site_id for s in sites if s.failure is None]
    rows = [row for s in sites for row in s.rows]
    survey_frames = [s.survey for s in sites if len(s.survey)]
    matched_frames = [s.matched for s in sites if len(s.matched)]
    if len(healthy) > 1 and len(responses):
        mine = responses[responses["site_id"].isin(healthy)]
        scored = scored_responses(mine, tables["paradigm_statements"], contract)
        pooled = survey_change(scored, contract=contract, only_pooled=True)
        survey_frames.append(pooled)
        rows += _change_rows(pooled)
        rows += attrition_rows(pooled_attrition(scored, mine, pooled=POOLED, contract=contract))
    pooled_balance = pd.DataFrame()
    if len(healthy) > 1 and len(records):
        effects, balance = matched_effects(records[records["site_id"].isin(healthy)],
                                           only_pooled=True)  # fmt: skip
        if len(balance):  # the programme report's love plot is of the pooled matching
            pooled_balance = balance[balance["site_id"] == POOLED]
        pooled_effects = effects[effects["site_id"] == POOLED]
        matched_frames.append(pooled_effects)
        rows += _matched_rows(pooled_effects)
    survey = pd.concat(survey_frames, ignore_index=True) if survey_frames else pd.DataFrame()
    matched = pd.concat(matched_frames, ignore_index=True) if matched_frames else pd.DataFrame()
    intended_table = tables["intended_outcomes"]
    intended_table = intended_table[intended_table["site_id"].isin(healthy)]
    if len(intended_table):
        estimates = estimates_by_measure(survey, matched)
        outcomes = _not_measurable_yet(intended_vs_actual(intended_table, estimates), tables,
                                       contract or default_contract())  # fmt: skip
        gas = gas_by_site(outcomes)
        rows += [{"site_id": r.site_id, "measure": "gas", "kind": "gas_t", "wave": None,
                  "estimate": r.gas_t, "ci_low": None, "ci_high": None, "n": r.measured,
                  "status": "ok", "message": r.note}
                 for r in gas.itertuples()]  # fmt: skip
        unintended = unintended_outcomes(
            estimates, intended_table, tables.get("harvested_outcomes"), responses
        )
    else:
        outcomes = pd.DataFrame(columns=INTENDED_COLUMNS)
        unintended = pd.DataFrame()
    balances = [s.balance for s in sites if len(s.balance)]
    if len(pooled_balance):
        balances.append(pooled_balance)
    agreement, empowers = _profiles(responses, tables["paradigm_statements"])
    rows += waiting_rows(tables)
    return Evaluation(
        results=pd.DataFrame(rows, columns=RESULT_COLUMNS),
        intended=outcomes.reindex(columns=INTENDED_COLUMNS),
        balance=pd.concat(balances, ignore_index=True) if balances else pd.DataFrame(),
        unintended=unintended,
        failures=[s.failure for s in sites if s.failure is not None],
        agreement=agreement,
        empowers=empowers,
    )


def _profiles(
    responses: pd.DataFrame, statements: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Answer distributions the reports draw, per site and for everyone ('all'), stored
    with the run so a report of this run shows this run's data."""
    if responses.empty:
        return pd.DataFrame(), pd.DataFrame()
    everyone = pd.concat([responses, responses.assign(site_id=POOLED)], ignore_index=True)
    # only ratings someone gave: a programme without EMPOWERS has the columns, all blank
    present = [c for c in EMPOWERS_ITEMS if c in everyone and everyone[c].notna().any()]
    empowers = (
        empowers_profile(everyone[["site_id", "wave", *present]]) if present else pd.DataFrame()
    )
    return agreement_counts(everyone, statements), empowers


def evaluate_programme(
    tables: dict[str, pd.DataFrame],
    *,
    site_hook: Callable[[str], None] | None = None,
    contract: Contract | None = None,
) -> Evaluation:
    """Run every analysis per site, then pooled, under the programme's ``contract`` (default:
    the sample programme's). ``site_hook(site_id)`` runs before each site's analyses (tests
    use it to inject a failure)."""
    sites = sorted(tables["sites"]["site_id"])
    evaluated = [evaluate_site(tables, site, site_hook=site_hook, contract=contract)
                 for site in sites]  # fmt: skip
    return combine(tables, evaluated, contract)


def measures_with_data(tables: dict[str, pd.DataFrame], contract: Contract) -> set[str]:
    """Measures some uploaded data gives: the programme's instruments whose items were
    answered, the paradigm index once statements and answers exist, and comparison
    outcomes an extract brought (pre_ and post_ values)."""
    responses, records = tables["survey_responses"], tables["comparison_records"]
    answered = {c for c in responses.columns if responses[c].notna().any()}
    found = {m for i in contract.instruments if set(i.item_columns) & answered for m in i.measures
             if i.scoring != "each_item" or m in answered}  # fmt: skip
    if len(tables["paradigm_statements"]) and any(PARADIGM_NOW.match(c) for c in answered):
        found.add("paradigm_index")
    brought = {c for c in records.columns if records[c].notna().any()}
    found |= {m["outcome"] for c in brought for m in [OUTCOME_POST.match(c)]
              if m and f"pre_{m['outcome']}" in brought}  # fmt: skip
    return found


def _not_measurable_yet(
    outcomes: pd.DataFrame, tables: dict[str, pd.DataFrame], contract: Contract
) -> pd.DataFrame:
    """Say why an outcome whose measure has no data at all cannot be measured yet (its
    extract or survey may simply not have been uploaded: upload order never matters)."""
    have = measures_with_data(tables, contract)
    missing = (outcomes["classification"] == "not measurable") & ~outcomes["measure"].isin(have)
    outcomes = outcomes.copy()
    outcomes.loc[missing, "why_not_measurable"] = [
        f"not measurable yet: no data for {m}" for m in outcomes.loc[missing, "measure"]
    ]
    return outcomes


def waiting_rows(tables: dict[str, pd.DataFrame]) -> list[dict[str, object]]:
    """Uploaded rows the evaluation leaves out because what they refer to has not come:
    rows of a site the sites table does not list, answers to paradigm statements the
    catalogue does not hold. Said in the results (kind "waiting"), never dropped silently."""
    sites = set(tables["sites"]["site_id"])
    rows = []
    for table, frame in tables.items():
        if table == "sites" or "site_id" not in frame or frame.empty:
            continue
        orphans = frame.loc[~frame["site_id"].isin(sites), "site_id"].value_counts().sort_index()
        rows += [{"site_id": str(site), "measure": table, "kind": "waiting", "wave": None,
                  "estimate": None, "ci_low": None, "ci_high": None, "n": int(n),
                  "status": "waiting", "message": f"{n} row(s) of {table} name site '{site}', "
                  "which the sites table does not list: left out until it does"}
                 for site, n in orphans.items()]  # fmt: skip
    items = set(tables["paradigm_statements"]["item"])
    responses = tables["survey_responses"]
    for column in responses.columns:
        match = PARADIGM_NOW.match(column)
        answered = int(responses[column].notna().sum()) if match else 0
        if match and answered and match["item"] not in items:
            rows.append({"site_id": "all", "measure": column, "kind": "waiting", "wave": None,
                         "estimate": None, "ci_low": None, "ci_high": None, "n": answered,
                         "status": "waiting", "message": f"{answered} answer(s) to paradigm "
                         f"statement '{match['item']}', which the catalogue does not hold yet: "
                         "left out of the paradigm index until it does"})  # fmt: skip
    return rows


def _change_rows(change: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {"site_id": r.site_id, "measure": r.measure, "kind": _kind(r.measure), "wave": r.wave,
         "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high, "n": r.n,
         "status": "ok", "message": ""}
        for r in change.itertuples()
    ]  # fmt: skip


def _matched_rows(effects: pd.DataFrame) -> list[dict[str, object]]:
    rows = []
    for r in effects.itertuples():
        kind = {"did": "did", "rate_ratio": "matched_rate_ratio"}.get(r.kind, r.kind)
        rows.append({"site_id": r.site_id, "measure": r.outcome, "kind": kind, "wave": None,
                     "estimate": getattr(r, "estimate", None), "ci_low": getattr(r, "ci_low", None),
                     "ci_high": getattr(r, "ci_high", None),
                     "n": getattr(r, "n_matched_treated", None), "status": r.status,
                     "message": getattr(r, "message", "") or ""})  # fmt: skip
    return rows


def _value_rows(items: pd.DataFrame) -> list[dict[str, object]]:
    if items.empty:
        return []
    value = calculated_value(items).sort_values("session_date").tail(1)
    moved = moved_to_visible(items)
    site = str(items["site_id"].iloc[0])
    rows = [{"site_id": site, "measure": "adjusted_value_gbp", "kind": "value_account", "wave": None,
             "estimate": r.value_central_gbp, "ci_low": r.value_low_gbp, "ci_high": r.value_high_gbp,
             "n": None, "status": "ok", "message": "low / central / high adjustment scenarios"}
            for r in value.itertuples()]  # fmt: skip
    rows.append({"site_id": site, "measure": "items_moved_to_visible", "kind": "value_account",
                 "wave": None, "estimate": float(len(moved)), "ci_low": None, "ci_high": None,
                 "n": len(items), "status": "ok", "message": ""})  # fmt: skip
    return rows
