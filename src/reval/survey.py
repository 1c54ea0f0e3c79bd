"""What changed for the people taking part: scale scores and their change between waves.

Method, in plain words (reused by the reports' methods appendix): each answer sheet is
scored with its instrument's published rules, as reval's instrument registry gives and
cites them (a sum or mean of the items, or the sum looked up in the published conversion
table; a score needs as many items answered as the rules ask; where every question stands
on its own, each is a measure). Change is measured only for people
who answered both the baseline and the follow-up, as the average of their own
differences, so people who joined or left do not masquerade as change. Per site the
95% interval is a paired t interval; pooled across sites it comes from a GEE model
that treats each person's two answers as related (clusters = respondents). It assumes
that people who dropped out would have changed like those who stayed.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
from scipy import stats

from reval.contract import EMPOWERS_ITEMS, Contract, default_contract
from reval.paradigm import paradigm_index
from reval.scales import instrument_scores

POOLED: Final[str] = "all"
KEYS: Final[list[str]] = ["site_id", "respondent_id", "wave"]


def survey_measures(contract: Contract) -> tuple[str, ...]:
    """The programme's measures in reporting order: instrument scores, the paradigm index,
    then instruments whose every item is a measure (EMPOWERS, ONS4)."""
    scores = [m for i in contract.instruments if i.scoring != "each_item" for m in i.measures]
    items = [m for i in contract.instruments if i.scoring == "each_item" for m in i.measures]
    return (*scores, "paradigm_index", *items)


def scored_responses(
    responses: pd.DataFrame, statements: pd.DataFrame, contract: Contract | None = None
) -> pd.DataFrame:
    """One row per response with the scores of the programme's instruments, scored as the
    registry says (and the paradigm index, now and retrospective)."""
    contract = contract or default_contract()
    scored = responses[[*KEYS, "response_id"]].copy()
    scores = {
        name: values
        for instrument in contract.instruments
        for name, values in instrument_scores(responses, instrument).items()
    }
    scores["paradigm_index"] = paradigm_index(responses, statements, "now")
    for measure in survey_measures(contract):
        instrument = contract.instrument_of(measure)
        if instrument is None or instrument.scoring != "each_item" or measure in responses:
            scored[measure] = scores[measure].to_numpy()  # an item measure only if asked
    scored["paradigm_index_before"] = paradigm_index(responses, statements, "before").to_numpy()
    return scored


def answers_by_wave(scored: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Each person's first answer of ``measure`` in each wave: one row per (site_id,
    respondent_id), sorted, one column per wave, blank where they did not answer. Built
    once per measure, then cut into pairs for every follow-up wave."""
    person = ["site_id", "respondent_id"]
    answered = scored.loc[scored[measure].notna(), [*person, "wave", measure]]
    first = answered.drop_duplicates([*person, "wave"])
    return first.set_index([*person, "wave"])[measure].unstack("wave").sort_index()


def paired(answers: pd.DataFrame, baseline: int, follow_up: int) -> pd.DataFrame:
    """Respondents with the measure at both waves (``answers`` from
    :func:`answers_by_wave`): site_id, respondent_id, before, after, sorted by site and
    respondent."""
    if baseline not in answers.columns or follow_up not in answers.columns:
        return pd.DataFrame(columns=["site_id", "respondent_id", "before", "after"])
    both = answers[[baseline, follow_up]].dropna()
    both.columns = ["before", "after"]
    return both.reset_index()


def paired_change(before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    """Mean paired difference with its 95% t interval."""
    diff = np.asarray(after, float) - np.asarray(before, float)
    n = diff.shape[0]
    if n < 2:
        return {"estimate": float(diff.mean()) if n else np.nan, "ci_low": np.nan,
                "ci_high": np.nan, "se": np.nan, "p_value": np.nan, "n": n}  # fmt: skip
    se = diff.std(ddof=1) / np.sqrt(n)
    half = stats.t.ppf(0.975, n - 1) * se
    p = 2 * stats.t.sf(abs(diff.mean() / se), n - 1) if se > 0 else np.nan
    return {"estimate": float(diff.mean()), "ci_low": float(diff.mean() - half),
            "ci_high": float(diff.mean() + half), "se": float(se), "p_value": float(p), "n": n}  # fmt: skip


def pooled_change(pairs: pd.DataFrame) -> dict[str, float]:
    """Change across sites: the GEE model of the design (the long data, exchangeable within
    respondent, site fixed effects so a site's level does not pass for change, robust
    standard error) in its closed form. :func:`paired` gives every respondent both waves,
    so ``after_wave`` is balanced within every cluster and the site effects are constant
    within it: whatever the working correlation, the estimate is the mean paired
    difference and the robust (sandwich) SE is sqrt(sum((d - mean d)^2)) / n. The same
    numbers as statsmodels' ``GEE(...).fit()`` (compared in tests/test_survey_models.py),
    without its 0.1 s of iterations per fit."""
    diff = pairs["after"].to_numpy(float) - pairs["before"].to_numpy(float)
    n = diff.shape[0]
    coef = float(diff.mean())
    se = float(np.sqrt(np.sum((diff - coef) ** 2)) / n)
    z = stats.norm.ppf(0.975)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = float(2 * stats.norm.sf(abs(coef / se))) if se > 0 else np.nan
    return {"estimate": coef, "ci_low": coef - z * se, "ci_high": coef + z * se, "se": se,
            "p_value": p, "n": n}  # fmt: skip


def survey_change(
    scored: pd.DataFrame,
    *,
    measures: tuple[str, ...] | None = None,
    baseline: int = 0,
    contract: Contract | None = None,
    only_pooled: bool = False,
) -> pd.DataFrame:
    """Change from baseline to every follow-up wave, per site and pooled, per measure (by
    default every measure of the programme's instruments, and the paradigm index);
    ``only_pooled`` skips the per-site rows (the pooled step has them from each site)."""
    contract = contract or default_contract()
    measures = survey_measures(contract) if measures is None else measures
    reliable = {m: (i.reliable_change, i.better_for(m)) for i in contract.instruments
                for m in i.measures if i.reliable_change is not None}  # fmt: skip
    rows = []
    follow_ups = sorted(w for w in scored["wave"].dropna().unique() if w != baseline)
    answers = {m: answers_by_wave(scored, m) for m in measures if m in scored} if follow_ups else {}
    for follow_up in follow_ups:
        for measure in (m for m in measures if m in answers):
            pairs = paired(answers[measure], baseline, int(follow_up))
            for site, site_pairs in [] if only_pooled else pairs.groupby("site_id"):
                rows.append({"site_id": site, "measure": measure, "wave": int(follow_up),
                             **paired_change(site_pairs["before"].to_numpy(), site_pairs["after"].to_numpy()),
                             **_reliable(reliable.get(measure), site_pairs)})  # fmt: skip
            if pairs["site_id"].nunique() > 1:
                rows.append({"site_id": POOLED, "measure": measure, "wave": int(follow_up),
                             **pooled_change(pairs), **_reliable(reliable.get(measure), pairs)})  # fmt: skip
    return pd.DataFrame(rows)


def _reliable(rule: tuple[float, str] | None, pairs: pd.DataFrame) -> dict[str, float]:
    """Shares of people whose own change passes the instrument's reliable-change threshold
    (the registry's ``reliable_change``), towards better and towards worse."""
    if rule is None or pairs.empty:
        return {"share_improved": np.nan, "share_deteriorated": np.nan}
    threshold, better = rule
    diff = pairs["after"] - pairs["before"]
    diff = diff if better == "higher" else -diff
    return {"share_improved": float((diff >= threshold).mean()),
            "share_deteriorated": float((diff <= -threshold).mean())}  # fmt: skip


def empowers_profile(scored: pd.DataFrame) -> pd.DataFrame:
    """Mean rating of each EMPOWERS behaviour per site and wave, with a 95% t interval."""
    rows = []
    for (site, wave), group in scored.groupby(["site_id", "wave"]):
        for item in EMPOWERS_ITEMS:
            values = group[item].dropna().to_numpy(float) if item in group else np.array([])
            n = values.shape[0]
            mean = float(values.mean()) if n else np.nan
            half = (
                float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n))
                if n > 1
                else np.nan
            )
            rows.append({"site_id": site, "wave": int(wave), "behaviour": item.removeprefix("emp_"),
                         "mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n})  # fmt: skip
    return pd.DataFrame(rows)
