"""Paradigm shift: how far respondents' thinking has moved from old to new.

The paradigm index is reval's own extension of Revaluation (Darnton & Harrison
2016), not a validated scale: mean agreement with new-paradigm statements minus
mean agreement with old-paradigm statements, on the 1-5 agreement scale, so it
runs from -4 (wholly old) to +4 (wholly new).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.multitest import multipletests

from reval.contract import Contract, default_contract

Timing = Literal["now", "before"]


def paradigm_items(statements: pd.DataFrame, paradigm: Literal["old", "new"]) -> list[str]:
    return statements.loc[statements["paradigm"] == paradigm, "item"].tolist()


def paradigm_index(
    responses: pd.DataFrame, statements: pd.DataFrame, timing: Timing = "now"
) -> pd.Series:
    """Per response: mean agreement on new items minus mean on old items.

    Missing when a response answers none of the new or none of the old items.
    """
    new_cols = [f"para_{i}_{timing}" for i in paradigm_items(statements, "new")]
    old_cols = [f"para_{i}_{timing}" for i in paradigm_items(statements, "old")]
    present = set(responses.columns)
    new_cols = [c for c in new_cols if c in present]
    old_cols = [c for c in old_cols if c in present]
    if not new_cols or not old_cols:
        return pd.Series(float("nan"), index=responses.index, name="paradigm_index")
    new_mean = responses[new_cols].astype("float64").mean(axis=1)
    old_mean = responses[old_cols].astype("float64").mean(axis=1)
    return (new_mean - old_mean).rename("paradigm_index")


# --- shift per statement, response shift, ordinal models, reliability ------------------------
# Method, in plain words: for each statement we compare agreement at follow-up with
# agreement at baseline for the same people, and (where they gave it) with how they now
# say they felt before - the "then" rating. The gap between the real baseline and the
# remembered one is the response shift: people re-reading their past in a new light.
# An ordinal (proportional-odds) model per statement treats the five answers as ordered
# categories, with standard errors that allow for the same person answering twice;
# Benjamini-Hochberg keeps the share of false discoveries across statements at 5%.
# The paradigm index (new-paradigm agreement minus old) is reval's own extension of
# Revaluation, not a validated scale: read it as a summary of these statements.


def _statement_long(
    responses: pd.DataFrame, item: str, baseline: int, follow_up: int
) -> pd.DataFrame:
    column = f"para_{item}_now"
    if column not in responses.columns:  # a catalogue statement no survey asks about (yet)
        return pd.DataFrame(columns=["site_id", "respondent_id", "wave", "agreement"])
    frame = responses.loc[
        responses["wave"].isin([baseline, follow_up]), ["site_id", "respondent_id", "wave", column]
    ]
    frame = frame.dropna(subset=[column])
    both = frame.groupby(["site_id", "respondent_id"])["wave"].transform("nunique") == 2
    return frame.loc[both].rename(columns={column: "agreement"})


def statement_shifts(
    responses: pd.DataFrame, statements: pd.DataFrame, *, baseline: int = 0, follow_up: int = 1
) -> pd.DataFrame:
    """Per statement and site (and pooled): mean change in agreement, towards-new-paradigm
    sign, now-vs-then and response shift, ordinal-model odds ratio, BH-adjusted p."""

    rows = []
    sites = sorted(responses["site_id"].dropna().unique())
    for site in [*sites, "all"] if len(sites) > 1 else sites:  # one site: "all" is that site
        subset = responses if site == "all" else responses[responses["site_id"] == site]
        waves = _waves_by_person(subset, baseline, follow_up)
        for item, paradigm in statements[["item", "paradigm"]].itertuples(index=False):
            long = _statement_long(subset, item, baseline, follow_up)
            if long.empty:
                continue
            wide = long.pivot_table(
                index=["site_id", "respondent_id"], columns="wave", values="agreement"
            )
            diff = wide[follow_up] - wide[baseline]
            sign = 1.0 if paradigm == "new" else -1.0
            n = int(diff.shape[0])
            se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
            half = float(stats.t.ppf(0.975, n - 1) * se) if n > 1 else float("nan")
            row = {"site_id": site, "item": item, "paradigm": paradigm, "n": n,
                   "shift": float(diff.mean()), "ci_low": float(diff.mean() - half),
                   "ci_high": float(diff.mean() + half),
                   "towards_new": float(sign * diff.mean())}  # fmt: skip
            row.update(_then_test(waves, item))
            row.update(ordinal_wave_effect(long))
            row["moved_up"] = float((diff > 0).mean())
            row["stayed"] = float((diff == 0).mean())
            row["moved_down"] = float((diff < 0).mean())
            rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table["p_adjusted"] = np.nan
        for _, index in table.groupby("site_id").groups.items():
            p = table.loc[index, "p_value"]
            ok = p.notna()
            if ok.any():
                table.loc[p[ok].index, "p_adjusted"] = multipletests(p[ok], method="fdr_bh")[1]
    return table


def _waves_by_person(
    responses: pd.DataFrame, baseline: int, follow_up: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(baseline, follow-up) answers indexed by person, built once for every statement."""

    def at(wave: int) -> pd.DataFrame:
        return responses[responses["wave"] == wave].set_index(["site_id", "respondent_id"])

    return at(baseline), at(follow_up)


def _then_test(waves: tuple[pd.DataFrame, pd.DataFrame], item: str) -> dict[str, float]:
    """Now vs the retrospective 'then' at follow-up, and then vs the real baseline."""
    now, before = f"para_{item}_now", f"para_{item}_before"
    first, later = waves
    if before not in later:
        return {"now_vs_then": float("nan"), "response_shift": float("nan")}
    then = later[before].dropna()
    now_vs_then = float((later.loc[then.index, now] - then).mean()) if len(then) else float("nan")
    common = then.index.intersection(first[now].dropna().index)
    shift = (
        float((then.loc[common] - first.loc[common, now]).mean()) if len(common) else float("nan")
    )
    return {"now_vs_then": now_vs_then, "response_shift": shift}


class _OrderedLogit(OrderedModel):
    """statsmodels' ordered logit with the logistic cdf and pdf computed directly
    (``scipy.special.expit``, which ``scipy.stats.logistic`` calls underneath): the same
    numbers without scipy.stats' per-call argument handling, which took half of every fit
    (the optimiser evaluates the likelihood thousands of times)."""

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return expit(x)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        p = expit(x)
        return p * (1.0 - p)


def ordinal_wave_effect(long: pd.DataFrame) -> dict[str, float]:
    """Proportional-odds (ordered logit) model of agreement on follow-up vs baseline,
    cluster-robust by respondent: the odds ratio of agreeing more at follow-up."""

    y = long["agreement"].astype(int)
    if y.nunique() < 2:
        return {"odds_ratio": float("nan"), "or_ci_low": float("nan"), "or_ci_high": float("nan"),
                "p_value": float("nan")}  # fmt: skip
    x = (long["wave"] != long["wave"].min()).astype(float).to_frame("follow_up")
    groups = (long["site_id"] + "\x1f" + long["respondent_id"].astype(str)).factorize()[0]
    endog = pd.Series(pd.Categorical(y, ordered=True), index=long.index)
    fit = _OrderedLogit(endog, x, distr="logit").fit(method="bfgs", disp=False, maxiter=500,
                                                    cov_type="cluster", cov_kwds={"groups": groups})  # fmt: skip
    beta, se = float(fit.params["follow_up"]), float(fit.bse["follow_up"])
    z = stats.norm.ppf(0.975)
    return {"odds_ratio": float(np.exp(beta)), "or_ci_low": float(np.exp(beta - z * se)),
            "or_ci_high": float(np.exp(beta + z * se)),
            "p_value": float(2 * stats.norm.sf(abs(beta / se)))}  # fmt: skip


def cronbach_alpha(items: pd.DataFrame) -> float:
    """Internal consistency of a battery (complete answers only):
    k/(k-1) * (1 - sum of item variances / variance of the total)."""
    complete = items.dropna().astype(float)
    k = complete.shape[1]
    if k < 2 or len(complete) < 2:
        return float("nan")
    item_var = complete.var(axis=0, ddof=1).sum()
    total_var = complete.sum(axis=1).var(ddof=1)
    return float(k / (k - 1) * (1 - item_var / total_var))


def battery_reliability(
    responses: pd.DataFrame, statements: pd.DataFrame, contract: Contract | None = None
) -> pd.DataFrame:
    """Cronbach's alpha for each battery at baseline: the programme's instruments (the
    ``contract``'s; default the sample's) that are meant to measure one thing, and the two
    paradigm batteries."""

    base = responses[responses["wave"] == responses["wave"].min()]
    instruments = (contract or default_contract()).instruments
    batteries = {
        **{
            i.key: list(i.item_columns)
            for i in instruments
            if len(i.items) > 1 and i.internal_consistency
        },
        "paradigm_new": [f"para_{i}_now" for i in paradigm_items(statements, "new")],
        "paradigm_old": [f"para_{i}_now" for i in paradigm_items(statements, "old")],
    }
    return pd.DataFrame([
        {"battery": name, "items": len(cols), "alpha": cronbach_alpha(base[cols]),
         "n": int(base[cols].dropna().shape[0])}
        for name, cols in batteries.items() if set(cols) <= set(base.columns)
    ])  # fmt: skip


def agreement_counts(responses: pd.DataFrame, statements: pd.DataFrame) -> pd.DataFrame:
    """People disagreeing (1-2), neither (3) and agreeing (4-5) with each statement, per
    site and wave: what the diverging bars are drawn from (disclosure is the report's job)."""
    parts = []
    for item in statements["item"]:
        column = f"para_{item}_now"
        if column not in responses:
            continue
        answered = responses[["site_id", "wave", column]].dropna(subset=[column])
        values = answered[column].astype(float)
        parts.append(
            answered[["site_id", "wave"]]
            .assign(item=item, disagree=(values <= 2).astype(int), neither=(values == 3).astype(int),
                    agree=(values >= 4).astype(int))
            .groupby(["site_id", "wave", "item"], as_index=False)[["disagree", "neither", "agree"]]
            .sum()
        )  # fmt: skip
    columns = ["site_id", "wave", "item", "disagree", "neither", "agree"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return frame.astype({"wave": int}).reindex(columns=columns)
