"""Who stayed in the survey, who left, and whether leaving could bend the change measured.

Method, in plain words (reused by the reports' methods appendix): change is measured on
the people who answered both the baseline and a follow-up survey, so for every site, wave
and measure reval also says how many answered at baseline, how many of them were followed
up (the retention), and how the people who stayed differed at baseline from those who
left (stayers' minus leavers' mean baseline score, with a Welch 95% interval). When those
who left differed clearly at baseline (the interval excludes zero), the change among
those who stayed is flagged "at risk of attrition bias". Beside it reval shows the change
weighted by the inverse probability of staying: a logistic model predicts, from each
person's baseline scores on the programme's scales, deprivation quintile and age band, how
likely they were to answer the follow-up, and each person who stayed counts as 1 / that
probability, standing in for the similar people who left. This estimates the change for
the whole baseline group if leaving depended only on what was measured at baseline
(missing at random); it cannot correct for reasons nobody measured. Its interval treats
the weights as known (a robust "sandwich" standard error), which is slightly conservative
(Lunceford & Davidian 2004). For all sites together the same lines count only the sites
that ran the follow-up wave, each site's people weighted by their own site's model.
References: Seaman SR, White IR (2013) Review of inverse
probability weighting for dealing with missing data. Statistical Methods in Medical
Research 22(3):278-295.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import pandas as pd
from scipy import stats

from reval.contract import Contract, default_contract
from reval.matching._propensity import propensity_scores
from reval.matching.errors import MatchingError

CATEGORY_PREDICTORS: Final[tuple[str, ...]] = ("age_band",)
NUMBER_PREDICTORS: Final[tuple[str, ...]] = ("imd_quintile",)
AT_RISK: Final[str] = "at risk of attrition bias: those who left differed at baseline"
COLUMNS: Final[list[str]] = [
    "site_id", "measure", "wave", "baseline_n", "followed_n", "retention", "retention_low",
    "retention_high", "stayers_minus_leavers", "difference_low", "difference_high", "leavers_n",
    "completers_change", "ipw_change", "ipw_low", "ipw_high", "at_risk", "message",
]  # fmt: skip


def wilson_interval(successes: int, total: int) -> tuple[float, float]:
    """Wilson 95% interval for a proportion (sound near 0 and 1, unlike the Wald one)."""
    if total == 0:
        return math.nan, math.nan
    z = 1.959963984540054
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


def welch_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b`` with a Welch 95% interval."""
    if len(a) < 2 or len(b) < 2:
        return (float(a.mean() - b.mean()) if len(a) and len(b) else math.nan), math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return float(a.mean() - b.mean()), math.nan, math.nan
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    diff = float(a.mean() - b.mean())
    return diff, diff - half, diff + half


def scale_scores(contract: Contract | None = None) -> tuple[str, ...]:
    """The programme's scale scores (instruments with a total; not those whose every item
    is a measure of its own): each gets a retention line and a weighted sensitivity line,
    and together they predict staying (the sample programme: swemwbs, ucla3)."""
    return tuple(i.key for i in (contract or default_contract()).instruments
                 if i.scoring != "each_item")  # fmt: skip


def _design(baseline: pd.DataFrame, predictors: tuple[str, ...]) -> pd.DataFrame:
    """Baseline predictors of staying: scale scores (missing ones set to the mean, with a
    flag), numeric covariates, and dummies for categories; constant columns dropped."""
    parts = []
    for column in predictors:
        if column in baseline:
            values = baseline[column].astype(float)
            parts.append(values.fillna(values.mean()).rename(column))
            if values.isna().any():
                parts.append(values.isna().astype(float).rename(f"{column}_missing"))
    for column in NUMBER_PREDICTORS:
        if column in baseline:
            values = pd.to_numeric(baseline[column], errors="coerce").astype(float)
            parts.append(values.fillna(values.mean()).rename(column))
    for column in CATEGORY_PREDICTORS:
        if column in baseline:
            parts.append(pd.get_dummies(baseline[column].astype(str), prefix=column,
                                        drop_first=True, dtype=float))  # fmt: skip
    design = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=baseline.index)
    design = design.fillna(0.0)
    return design.loc[:, design.std(ddof=0) > 0]


def retention_weights(
    baseline: pd.DataFrame, stayed: np.ndarray, measure: str, predictors: tuple[str, ...]
) -> np.ndarray:
    """1 / the modelled probability of staying, for every baseline respondent. A model that
    cannot be fitted (separation, too few leavers) falls back to the measure's own baseline
    score alone, then to equal weights."""
    design = _design(baseline, predictors)
    for columns in (list(design.columns), [measure]):
        if not columns or any(c not in design for c in columns):
            continue
        try:
            probability, _ = propensity_scores(stayed, design[columns])
        except MatchingError:  # separation or collinearity: try a smaller model
            continue
        return 1.0 / probability
    return np.ones(len(baseline))


def weighted_change(diff: np.ndarray, weights: np.ndarray) -> tuple[float, float, float]:
    """Weighted mean change with a robust (sandwich) 95% interval, weights taken as known."""
    total = weights.sum()
    mean = float((weights * diff).sum() / total)
    k = len(diff)
    if k < 2:
        return mean, math.nan, math.nan
    se = math.sqrt(float((weights**2 * (diff - mean) ** 2).sum()) * k / (k - 1)) / total
    half = 1.959963984540054 * se
    return mean, mean - half, mean + half


def attrition(
    scored: pd.DataFrame,
    covariates: pd.DataFrame | None = None,
    *,
    contract: Contract | None = None,
    baseline: int = 0,
) -> pd.DataFrame:
    """Per site, follow-up wave and measure: baseline n, followed-up n, retention with its
    interval, stayers minus leavers at baseline, the completers' change and the
    inverse-probability-of-retention weighted change, and the at-risk flag.

    ``scored`` is :func:`reval.survey.scored_responses` output; ``covariates`` the
    responses' ``response_id`` with age band and deprivation (optional); the measures are
    the scale scores of the programme's ``contract`` (:func:`scale_scores`)."""
    measures = scale_scores(contract)
    frame = scored
    if covariates is not None:
        extra = [c for c in (*CATEGORY_PREDICTORS, *NUMBER_PREDICTORS) if c in covariates]
        frame = scored.merge(covariates[["response_id", *extra]], on="response_id", how="left")
    rows = []
    waves = sorted(int(w) for w in frame["wave"].dropna().unique() if w != baseline)
    for site, mine in frame.groupby("site_id"):
        first = mine[mine["wave"] == baseline].drop_duplicates("respondent_id")
        for wave in waves:
            later = mine[mine["wave"] == wave].drop_duplicates("respondent_id")
            if later.empty:
                continue
            for measure in measures:
                if measure not in mine:
                    continue
                rows.append(_one(str(site), measure, wave, first, later, measures))
    return pd.DataFrame(rows, columns=COLUMNS)


def pooled_attrition(
    scored: pd.DataFrame,
    covariates: pd.DataFrame | None = None,
    *,
    pooled: str = "all",
    contract: Contract | None = None,
    baseline: int = 0,
) -> pd.DataFrame:
    """The same lines for all sites together (site ``pooled``), per follow-up wave: only
    the sites that ran that wave count (nobody at a site without it could have answered
    it), people are told apart by site and respondent, and each site's people are
    weighted by that site's own model of staying (as in its own line). Like the pooled
    survey change, only when more than one site ran the wave."""
    tables = []
    for wave in sorted(int(w) for w in scored["wave"].dropna().unique() if w != baseline):
        ran = scored.loc[scored["wave"] == wave, "site_id"].unique()
        if len(ran) < 2:
            continue
        mine = scored[scored["site_id"].isin(ran) & scored["wave"].isin([baseline, wave])]
        together = mine.assign(
            home_site=mine["site_id"].astype(str),
            respondent_id=mine["site_id"].astype(str) + "\x1f" + mine["respondent_id"].astype(str),
            site_id=pooled,
        )
        tables.append(attrition(together, covariates, contract=contract, baseline=baseline))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)


def _one(
    site: str, measure: str, wave: int, first: pd.DataFrame, later: pd.DataFrame,
    predictors: tuple[str, ...],
) -> dict[str, object]:  # fmt: skip
    base = first[first[measure].notna()].reset_index(drop=True)
    after = later.set_index("respondent_id")[measure].dropna()
    stayed = base["respondent_id"].isin(after.index).to_numpy()
    baseline_n, followed_n = len(base), int(stayed.sum())
    low, high = wilson_interval(followed_n, baseline_n)
    values = base[measure].to_numpy(float)
    diff_leavers = welch_difference(values[stayed], values[~stayed])
    row: dict[str, object] = {
        "site_id": site, "measure": measure, "wave": wave, "baseline_n": baseline_n,
        "followed_n": followed_n, "retention": followed_n / baseline_n if baseline_n else math.nan,
        "retention_low": low, "retention_high": high, "stayers_minus_leavers": diff_leavers[0],
        "difference_low": diff_leavers[1], "difference_high": diff_leavers[2],
        "leavers_n": baseline_n - followed_n,
    }  # fmt: skip
    change = after.reindex(base.loc[stayed, "respondent_id"]).to_numpy(float) - values[stayed]
    at_risk = bool(diff_leavers[1] > 0 or diff_leavers[2] < 0)
    if followed_n and baseline_n > followed_n:
        weights = np.empty(len(base))
        for rows in base.groupby("home_site").indices.values() if "home_site" in base else [
            np.arange(len(base))
        ]:  # fmt: skip
            site_base = base.iloc[rows].reset_index(drop=True)
            weights[rows] = retention_weights(site_base, stayed[rows], measure, predictors)
        weights = weights[stayed]
        ipw = weighted_change(change, weights)
    elif followed_n:
        ipw = (float(change.mean()), math.nan, math.nan)
    else:
        ipw = (math.nan, math.nan, math.nan)
    row.update(
        completers_change=float(change.mean()) if followed_n else math.nan,
        ipw_change=ipw[0], ipw_low=ipw[1], ipw_high=ipw[2], at_risk=at_risk,
        message=AT_RISK if at_risk else "no clear baseline difference between stayers and leavers",
    )  # fmt: skip
    return row


def attrition_rows(table: pd.DataFrame) -> list[dict[str, object]]:
    """The attrition table as result rows (the shape every estimate is stored in):
    retention (n = baseline respondents), stayers minus leavers at baseline (n = leavers)
    and the weighted change (n = followed up; message carries the at-risk flag)."""
    rows: list[dict[str, object]] = []
    for r in table.itertuples():
        common = {"site_id": r.site_id, "measure": r.measure, "wave": r.wave, "status": "ok"}
        rows += [
            {**common, "kind": "retention", "estimate": r.retention, "ci_low": r.retention_low,
             "ci_high": r.retention_high, "n": r.baseline_n, "message": ""},
            {**common, "kind": "stayers_vs_leavers", "estimate": r.stayers_minus_leavers,
             "ci_low": r.difference_low, "ci_high": r.difference_high, "n": r.leavers_n,
             "message": r.message},
            {**common, "kind": "ipw_change", "estimate": r.ipw_change, "ci_low": r.ipw_low,
             "ci_high": r.ipw_high, "n": r.followed_n, "message": AT_RISK if r.at_risk else ""},
        ]  # fmt: skip
    return rows
