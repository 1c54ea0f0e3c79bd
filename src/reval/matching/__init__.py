"""Matched-comparison engine: effects against matched comparison groups.

One functional entry point per step, pure over DataFrames:

- :func:`match` - propensity score (or Mahalanobis) nearest-neighbour matching,
  MatchIt's greedy algorithm and defaults, in O(N log N);
- :func:`balance` - standardised mean differences, variance ratios and eCDF
  statistics before and after, MatchIt's conventions;
- :func:`effect` - the effect on the treated (ATT) by weighted regression on the
  matched sample with cluster-robust standard errors by matched set, optionally
  as a difference-in-differences on ``post - pre``, or as a rate ratio for counts;
- :func:`e_value` - sensitivity to unmeasured confounding.

Method, in plain words (reused by the reports' methods appendix): each participant
is paired with the non-participant whose estimated chance of taking part - given
age, sex, deprivation and health - is closest, taking the hardest-to-match
participants first and refusing pairs further apart than the caliper. The effect is
the average difference in outcomes between participants and their matched
comparisons, with uncertainty that allows for outcomes within a pair being alike.
It assumes every characteristic that drives both taking part and the outcome was
measured; the E-value says how strong an unmeasured one would have to be to explain
the effect away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from reval.matching._csv import read_matching_csv
from reval.matching._nearest import greedy_match
from reval.matching._poisson import poisson_cluster
from reval.matching._propensity import design_matrix, mahalanobis_space, propensity_scores
from reval.matching._wls import wls_cluster
from reval.matching.errors import MatchingError

Distance = Literal["logit", "probability", "mahalanobis"]
Discard = Literal["none", "both", "treated", "control"]
Order = Literal["largest", "smallest", "data"]
EffectScale = Literal["difference", "rate_ratio"]

__all__ = [
    "Distance",
    "Effect",
    "MatchedSample",
    "MatchingError",
    "balance",
    "e_value",
    "effect",
    "match",
    "read_matching_csv",
]


@dataclass(frozen=True)
class MatchedSample:
    """The data with each row's distance, weight and matched set (0 weight = unmatched)."""

    data: pd.DataFrame
    treatment: str
    covariates: list[str]
    treated: np.ndarray
    distance: np.ndarray
    weights: np.ndarray
    subclass: np.ndarray
    """Matched set per row (-1 when unmatched); with replacement, the row itself."""
    pairs: pd.DataFrame
    """treated_row, control_row, subclass (row = position in ``data``)."""
    replace: bool
    caliper_width: float | None
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def matched(self) -> np.ndarray:
        return self.weights > 0

    @property
    def n_treated(self) -> int:
        return int(self.treated.sum())

    @property
    def n_control(self) -> int:
        return int((~self.treated).sum())

    @property
    def n_matched_treated(self) -> int:
        return int((self.matched & self.treated).sum())

    @property
    def n_matched_control(self) -> int:
        return int((self.matched & ~self.treated).sum())


def _treatment_flags(data: pd.DataFrame, treatment: str) -> np.ndarray:
    if treatment not in data:
        raise MatchingError(
            f"There is no column {treatment!r} in the data.", reason="missing_column"
        )
    values = data[treatment]
    levels = set(values.dropna().unique().tolist())
    if values.isna().any() or not levels <= {0, 1}:
        shown = ", ".join(map(str, sorted(map(str, levels))[:6]))
        raise MatchingError(
            f"The treatment column {treatment!r} must be 1 for participants and 0 for the "
            f"comparison pool, with no blanks; it holds: {shown}. Recode it and try again.",
            reason="treatment_not_binary",
        )
    flags = values.astype(int).to_numpy() == 1
    if not flags.any():
        raise MatchingError(
            f"No row has {treatment} = 1: there are no participants to match.", reason="no_treated"
        )
    if flags.all():
        raise MatchingError(
            f"Every row has {treatment} = 1: there is no comparison pool to match from. Add "
            "non-participants' records.",
            reason="no_controls",
        )
    return flags


def match(
    data: pd.DataFrame,
    treatment: str,
    covariates: list[str],
    *,
    distance: Distance = "probability",
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    exact: list[str] | None = None,
    discard: Discard = "none",
    order: Order | None = None,
    mahalanobis: list[str] | None = None,
) -> MatchedSample:
    """Nearest-neighbour matching for the effect on the treated (ATT).

    ``distance`` "probability" is MatchIt's default (``distance = "glm"``), "logit" its
    ``link = "linear.logit"``; ``caliper`` is in standard deviations of the distance.
    ``exact`` columns must agree within a pair. Treated units choose in ``order``
    ("largest" distance first by default, as MatchIt does; "data" for Mahalanobis).
    """
    missing = [c for c in [*covariates, *(exact or [])] if c not in data]
    if missing:
        raise MatchingError(
            f"There is no column {missing[0]!r} in the data.", reason="missing_column"
        )
    if ratio < 1:
        raise MatchingError(
            "The ratio must be 1 or more controls per participant.", reason="no_matches"
        )
    data = data.reset_index(drop=True)
    treated = _treatment_flags(data, treatment)
    for name in covariates:
        if data[name].isna().all():
            raise MatchingError(
                f"Covariate {name!r} is missing for every row; drop it from --covariates or fill it in.",
                reason="covariate_missing",
            )
    complete = data[[*covariates, *(exact or [])]].notna().all(axis=1).to_numpy()
    if not complete.all():
        data = data.loc[complete].reset_index(drop=True)
        treated = treated[complete]
        _treatment_flags(data.assign(**{treatment: treated.astype(int)}), treatment)
    design = design_matrix(data, covariates)

    if distance == "mahalanobis":
        space = mahalanobis_space(design if not mahalanobis else design_matrix(data, mahalanobis))
        scores = np.zeros(len(data))
    else:
        probability, linear = propensity_scores(treated, design)
        scores = probability if distance == "probability" else linear
        space = None

    eligible = (
        _common_support(scores, treated, discard) if space is None else np.ones(len(data), bool)
    )
    width = None
    if caliper is not None:
        if space is not None:
            raise MatchingError(
                "A caliper needs a propensity-score distance; use --distance logit or probability.",
                reason="no_matches",
            )
        width = float(caliper * np.std(scores[eligible], ddof=1))

    choose = order or ("data" if space is not None else "largest")
    if exact:
        # groups in order of first appearance, as the rows' own order decides ties
        codes = data.groupby(exact, sort=False).ngroup().to_numpy()
        by_group = np.argsort(codes, kind="stable")
        group_rows = np.split(by_group, np.flatnonzero(np.diff(codes[by_group])) + 1)
    else:
        group_rows = [np.arange(len(data))]
    found_parts: list[tuple[np.ndarray, np.ndarray]] = []
    for members in group_rows:
        t_rows = members[treated[members]]
        if t_rows.size == 0 or (~treated[members]).sum() == 0:
            continue
        t_order = _choice_order(t_rows, scores, choose)
        if space is None and not exact:  # one group: every row, positions are rows
            found = greedy_match(scores, treated, t_order, ratio=ratio, replace=replace,
                                 caliper=width, eligible=eligible)  # fmt: skip
        elif space is None:
            found = greedy_match(
                scores[members], treated[members],
                np.searchsorted(members, t_order),  # members is sorted: row -> local position
                ratio=ratio, replace=replace, caliper=width, eligible=eligible[members],
            )  # fmt: skip
            found = np.where(found >= 0, members[np.maximum(found, 0)], -1)
        else:
            found = _nearest_in_space(space, members, treated, t_order, ratio, replace)
        found_parts.append((t_order, found))
    pairs = _pairs(found_parts, ratio)
    if pairs.empty:
        raise MatchingError(
            "No participant found a comparison inside the caliper. Widen the caliper (e.g. "
            "--caliper 0.5), drop the exact-matching columns, or check that the two groups overlap.",
            reason="no_matches",
        )
    weights, subclass = _weights(len(data), pairs, replace)
    return MatchedSample(
        data=data, treatment=treatment, covariates=list(covariates), treated=treated,
        distance=scores, weights=weights, subclass=subclass, pairs=pairs, replace=replace,
        caliper_width=width,
        settings={"distance": distance, "ratio": ratio, "replace": replace, "caliper": caliper,
                  "exact": exact or [], "discard": discard, "order": choose},
    )  # fmt: skip


def _pairs(found_parts: list[tuple[np.ndarray, np.ndarray]], ratio: int) -> pd.DataFrame:
    """One row per (treated, control) pair; a matched set per treated unit that found any
    control, numbered in the order the treated units chose."""
    treated_rows, control_rows, sets = [], [], []
    next_set = 0
    for t_order, found in found_parts:
        chosen = found >= 0
        has = chosen.any(axis=1)
        set_ids = next_set + np.cumsum(has) - 1
        next_set += int(has.sum())
        treated_rows.append(np.repeat(t_order[:, None], ratio, axis=1)[chosen])
        control_rows.append(found[chosen])
        sets.append(np.repeat(set_ids[:, None], ratio, axis=1)[chosen])
    if not treated_rows:
        return pd.DataFrame({"treated_row": [], "control_row": [], "subclass": []}, dtype=np.int64)
    return pd.DataFrame({
        "treated_row": np.concatenate(treated_rows).astype(np.int64),
        "control_row": np.concatenate(control_rows).astype(np.int64),
        "subclass": np.concatenate(sets).astype(np.int64),
    })  # fmt: skip


def _choice_order(t_rows: np.ndarray, scores: np.ndarray, order: str) -> np.ndarray:
    if order == "largest":
        return t_rows[np.argsort(-scores[t_rows], kind="stable")]
    if order == "smallest":
        return t_rows[np.argsort(scores[t_rows], kind="stable")]
    return t_rows


def _common_support(scores: np.ndarray, treated: np.ndarray, discard: str) -> np.ndarray:
    keep = np.ones(scores.shape[0], dtype=bool)
    if discard in {"both", "treated"}:
        lo, hi = scores[~treated].min(), scores[~treated].max()
        keep &= ~treated | ((scores >= lo) & (scores <= hi))
    if discard in {"both", "control"}:
        lo, hi = scores[treated].min(), scores[treated].max()
        keep &= treated | ((scores >= lo) & (scores <= hi))
    return keep


def _nearest_in_space(space: np.ndarray, members: np.ndarray, treated: np.ndarray,
                      t_order: np.ndarray, ratio: int, replace: bool) -> np.ndarray:  # fmt: skip
    """Greedy matching on Mahalanobis distance: a vectorised scan per treated unit
    (a multivariate distance has no sort order to exploit)."""
    controls = members[~treated[members]]
    available = np.ones(controls.shape[0], dtype=bool)
    out = np.full((t_order.shape[0], ratio), -1, dtype=np.int64)
    for round_ in range(ratio):
        for slot, row in enumerate(t_order.tolist()):
            gaps = np.sum((space[controls] - space[row]) ** 2, axis=1)
            usable = available.copy()
            if replace:
                usable[np.isin(controls, out[slot, :round_])] = False
            if not usable.any():
                continue
            gaps[~usable] = np.inf
            best = int(np.argmin(gaps))  # first in data order on ties
            out[slot, round_] = controls[best]
            if not replace:
                available[best] = False
    return out


def _weights(n: int, pairs: pd.DataFrame, replace: bool) -> tuple[np.ndarray, np.ndarray]:
    """MatchIt's ATT weights: treated 1; each control 1/k per match, rescaled so the
    control weights sum to the number of matched controls."""
    weights = np.zeros(n)
    weights[pairs["treated_row"].unique()] = 1.0
    k = pairs.groupby("treated_row")["control_row"].transform("size").to_numpy()
    np.add.at(weights, pairs["control_row"].to_numpy(), 1.0 / k)
    controls = pairs["control_row"].unique()
    weights[controls] *= len(controls) / weights[controls].sum()
    subclass = np.full(n, -1, dtype=np.int64)
    if replace:
        matched = np.flatnonzero(weights > 0)
        subclass[matched] = matched
    else:
        subclass[pairs["treated_row"].to_numpy()] = pairs["subclass"].to_numpy()
        subclass[pairs["control_row"].to_numpy()] = pairs["subclass"].to_numpy()
    return weights, subclass


# --- balance --------------------------------------------------------------------------------


def balance(
    sample: MatchedSample, covariates: list[str] | None = None, *, ecdf: bool = True
) -> pd.DataFrame:
    """Balance before and after matching, MatchIt's ATT conventions.

    Standardised mean difference = (treated mean - control mean) / treated SD from the
    unmatched sample (for 0/1 variables sqrt(p(1-p)) of the treated); categorical
    columns appear once per level. ``flag`` marks |SMD after| >= 0.1. ``ecdf=False``
    leaves the eCDF statistics of continuous covariates blank (NaN): they need a sort of
    every column, the largest cost on millions of rows, and `reval match` does not show them.
    """
    covariates = covariates or sample.covariates
    terms = _balance_terms(sample.data, covariates)
    terms.insert(0, "distance", sample.distance)
    t, w = sample.treated, sample.weights
    ones = np.ones_like(w)
    # which rows each side holds, before and after: found once, not once per covariate
    before_rows = (np.flatnonzero(t), np.flatnonzero(~t))
    after_rows = (np.flatnonzero(t & (w > 0)), np.flatnonzero(~t & (w > 0)))
    rows = []
    for name, values in terms.items():
        x = values.to_numpy(dtype=float)
        known = x[~np.isnan(x)]
        binary = bool(((known == 0.0) | (known == 1.0)).all())
        x_t = x[before_rows[0]]
        p_t = x_t.mean()
        scale = np.sqrt(p_t * (1 - p_t)) if binary else x_t.std(ddof=1)
        # one sort serves both eCDFs, before and after
        order = np.argsort(x) if ecdf and not binary else None
        before = _stats(x, t, ones, before_rows, binary, scale, order)
        after = _stats(x, t, w, after_rows, binary, scale, order)
        rows.append({
            "covariate": name,
            "smd_before": before[0], "smd_after": after[0],
            "var_ratio_before": before[1], "var_ratio_after": after[1],
            "ecdf_mean_before": before[2], "ecdf_mean_after": after[2],
            "ecdf_max_before": before[3], "ecdf_max_after": after[3],
        })  # fmt: skip
    table = pd.DataFrame(rows)
    table["flag"] = (table["smd_after"].abs() >= 0.1) & (table["covariate"] != "distance")
    sizes = {
        "n_treated": sample.n_treated, "n_control": sample.n_control,
        "n_matched_treated": sample.n_matched_treated, "n_matched_control": sample.n_matched_control,
    }  # fmt: skip
    table.attrs.update(sizes)
    return table


def _balance_terms(data: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    parts = {}
    for name in covariates:
        column = data[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            column
        ):
            for level in sorted(column.dropna().astype(str).unique()):
                parts[f"{name}{level}"] = (column.astype(str) == level).astype(float)
        else:
            parts[name] = column.astype(float)
    return pd.DataFrame(parts)


def _weighted_var(x: np.ndarray, w: np.ndarray) -> float:
    """MatchIt's weighted variance: sum w(x - m)^2 / (sum w - sum w^2 / sum w)."""
    total = w.sum()
    mean = np.sum(w * x) / total
    return float(np.sum(w * (x - mean) ** 2) / (total - np.sum(w**2) / total))


def _stats(x: np.ndarray, t: np.ndarray, w: np.ndarray, rows: tuple[np.ndarray, np.ndarray],
           binary: bool, scale: float, order: np.ndarray | None) -> tuple[float, float, float, float]:  # fmt: skip
    """SMD, variance ratio and eCDF statistics; ``rows`` = (treated, control) rows with weight."""
    xt, wt = x[rows[0]], w[rows[0]]
    xc, wc = x[rows[1]], w[rows[1]]
    mt, mc = np.average(xt, weights=wt), np.average(xc, weights=wc)
    smd = (mt - mc) / scale if scale > 0 else np.nan
    var_ratio = np.nan if binary else _weighted_var(xt, wt) / _weighted_var(xc, wc)
    if binary:
        ecdf_mean = ecdf_max = abs(mt - mc)
    elif order is None:
        ecdf_mean = ecdf_max = np.nan
    else:
        # weighted eCDFs of both groups at every observed value (MatchIt's grid), read off
        # one pass of cumulative sums at the last position of each distinct value
        xs, ws, ts = x[order], w[order], t[order]
        last = np.r_[xs[1:] != xs[:-1], True]
        ft = np.cumsum(np.where(ts, ws, 0.0))[last] / wt.sum()
        fc = np.cumsum(np.where(~ts, ws, 0.0))[last] / wc.sum()
        ecdf_mean, ecdf_max = float(np.mean(np.abs(ft - fc))), float(np.max(np.abs(ft - fc)))
    return float(smd), float(var_ratio), float(ecdf_mean), float(ecdf_max)


# --- effects --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """An effect on the treated with its 95% confidence interval and sensitivity."""

    outcome: str
    scale: EffectScale
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    e_value: float
    e_value_ci: float
    n_matched_treated: int
    n_matched_control: int
    did: bool

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def effect(
    sample: MatchedSample,
    outcome: str,
    *,
    pre: str | None = None,
    adjust: list[str] | None = None,
    scale: EffectScale = "difference",
) -> Effect:
    """ATT on the matched sample, cluster-robust by matched set (by unit with replacement).

    ``pre`` makes it a difference-in-differences on ``outcome - pre``. ``scale="rate_ratio"``
    fits a weighted Poisson model for counts and reports exp(coefficient).
    """
    data = sample.data
    keep = sample.matched & data[outcome].notna().to_numpy()
    if pre is not None:
        keep &= data[pre].notna().to_numpy()
    y = data.loc[keep, outcome].to_numpy(dtype=float)
    if pre is not None and scale == "difference":
        y = y - data.loc[keep, pre].to_numpy(dtype=float)
    columns = [sample.treated[keep].astype(float)]
    if adjust:
        columns += [c.to_numpy() for _, c in design_matrix(data.loc[keep], adjust).items()]
    exog = np.column_stack([np.ones(int(keep.sum())), *columns])
    groups = sample.subclass[keep]
    weights = sample.weights[keep]
    if scale == "rate_ratio":
        offset = None if pre is None else np.log(data.loc[keep, pre].to_numpy(dtype=float) + 1.0)
        if offset is not None:
            exog = np.column_stack([exog, offset])
        params, covariance = poisson_cluster(y, exog, weights, groups)
        coef, se = float(params[1]), float(np.sqrt(covariance[1, 1]))
        df = None
    else:
        params, covariance = wls_cluster(y, exog, weights, groups)
        df = int(keep.sum()) - exog.shape[1]
        coef, se = float(params[1]), float(np.sqrt(covariance[1, 1]))
    # scipy.special's t and normal functions are what scipy.stats.t and .norm call; imported
    # here, and not scipy.stats, because that takes seconds and `reval match` should start at once
    from scipy import special

    quantile = special.stdtrit(df, 0.975) if df else special.ndtri(0.975)
    low, high = coef - quantile * se, coef + quantile * se
    z = abs(coef / se)
    p_value = float(2 * (special.stdtr(df, -z) if df else special.ndtr(-z)))
    n_t = int((keep & sample.treated).sum())
    n_c = int((keep & ~sample.treated).sum())
    if scale == "rate_ratio":
        estimate, low, high = np.exp(coef), np.exp(low), np.exp(high)
        ev, ev_ci = e_value(estimate, low, high, scale="ratio")
    else:
        control_sd = _weighted_sd(y[~sample.treated[keep]], weights[~sample.treated[keep]])
        estimate = coef
        ev, ev_ci = e_value(coef, low, high, scale="difference", outcome_sd=control_sd)
    return Effect(outcome, scale, float(estimate), se, float(low), float(high), p_value,
                  ev, ev_ci, n_t, n_c, pre is not None)  # fmt: skip


def _weighted_sd(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sqrt(_weighted_var(x, w))) if len(x) > 1 else float("nan")


def e_value(
    estimate: float,
    ci_low: float,
    ci_high: float,
    *,
    scale: Literal["ratio", "difference"],
    outcome_sd: float | None = None,
) -> tuple[float, float]:
    """E-values of an estimate and of the confidence limit nearer the null.

    The minimum strength of association, on the risk-ratio scale, that an unmeasured
    confounder would need with both treatment and outcome to explain the estimate
    away (VanderWeele & Ding 2017). Differences are first converted to an approximate
    risk ratio exp(0.91 x d), d = difference / outcome SD. 1 means none is needed.

    Which SD: :func:`effect` passes the weighted SD of the matched comparisons' outcome
    (for a difference-in-differences, of their change score), the outcome's spread
    without the programme, as VanderWeele & Ding suggest for a standardised effect. This
    is not cobalt's balance convention (treated-group SD, used for SMDs), so an E-value
    from cobalt/MatchIt-based scripts that divides by another SD will differ by the
    ratio of the two SDs.
    """

    def to_ratio(value: float) -> float:
        if scale == "ratio":
            return value
        if not outcome_sd or not np.isfinite(outcome_sd) or outcome_sd <= 0:
            return float("nan")
        return float(np.exp(0.91 * value / outcome_sd))

    def evalue(rr: float) -> float:
        if not np.isfinite(rr):
            return float("nan")
        rr = 1 / rr if rr < 1 else rr
        return float(rr + np.sqrt(rr * (rr - 1)))

    rr, lo, hi = to_ratio(estimate), to_ratio(ci_low), to_ratio(ci_high)
    if not np.isfinite(rr):
        return float("nan"), float("nan")
    if lo <= 1 <= hi:
        return evalue(rr), 1.0
    return evalue(rr), evalue(lo if rr > 1 else hi)
