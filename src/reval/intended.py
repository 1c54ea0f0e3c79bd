"""Intended versus actual outcomes, Goal Attainment Scaling, and what nobody intended.

Method, in plain words (reused by the reports' methods appendix): every outcome a site
set out to achieve is joined to the estimate of its measure (survey change from
baseline to the latest follow-up, or the matched-comparison difference-in-differences)
and turned round so that "more" always means "in the direction the site wanted". It
is then classified by its 95% interval, not just its point estimate:

- achieved: the whole interval is on the intended side of zero and the estimate reaches the target;
- partly achieved: the whole interval is on the intended side but the estimate falls short of the target;
- not achieved: the interval includes zero (no clear change either way);
- reversed: the whole interval is on the wrong side of zero;
- not measurable: no estimate exists for the measure.

Goal Attainment Scaling gives each outcome the level (-2..+2) whose threshold lies
nearest the estimate and combines them as T = 50 + 10 sum(w x) / sqrt((1 - rho) sum(w^2)
+ rho (sum w)^2) with rho = 0.3; everything exactly as expected gives 50. GAS depends on
how the levels were set and has known limits of reliability, so it is shown beside the
classifications, never instead of them. Unintended outcomes are clear changes (interval
excluding zero) in measures no intended outcome names, harvested outcomes nobody
anticipated, and stories their tellers did not expect.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import pandas as pd

Classification = Literal[
    "achieved", "partly achieved", "not achieved", "reversed", "not measurable"
]
GAS_RHO: Final[float] = 0.3
GAS_LEVELS: Final[tuple[tuple[int, str], ...]] = (
    (-2, "gas_m2"),
    (-1, "gas_m1"),
    (0, "target"),
    (1, "gas_p1"),
    (2, "gas_p2"),
)


def estimates_by_measure(survey_change: pd.DataFrame, matched: pd.DataFrame) -> pd.DataFrame:
    """One estimate per site and measure: survey change at each site's latest follow-up
    wave, and matched-comparison difference-in-differences for comparison outcomes."""
    latest = survey_change.sort_values("wave").groupby(["site_id", "measure"]).tail(1)
    survey = latest[["site_id", "measure", "estimate", "ci_low", "ci_high"]].assign(
        source="survey_change"
    )
    frames = [survey]
    if not matched.empty:
        did = matched[(matched["kind"] == "did") & (matched.get("status", "ok") != "failed")]
        frames.append(
            did.rename(columns={"outcome": "measure"})[
                ["site_id", "measure", "estimate", "ci_low", "ci_high"]
            ].assign(source="matched_did")
        )
    return pd.concat(frames, ignore_index=True)


def classify(
    signed_estimate: float, signed_low: float, signed_high: float, target: float
) -> Classification:
    """The documented rule, on an estimate already turned to the intended direction."""
    if any(np.isnan(v) for v in (signed_estimate, signed_low, signed_high)):
        return "not measurable"
    if signed_low > 0:
        return "achieved" if signed_estimate >= target else "partly achieved"
    if signed_high < 0:
        return "reversed"
    return "not achieved"


def gas_level(signed_estimate: float, thresholds: dict[str, float]) -> int | None:
    """The level whose threshold is nearest the estimate (ties go to the lower level)."""
    if np.isnan(signed_estimate):
        return None
    known = [(level, thresholds[name]) for level, name in GAS_LEVELS
             if name in thresholds and not pd.isna(thresholds[name])]  # fmt: skip
    if not known:
        return None
    return min(known, key=lambda pair: (abs(signed_estimate - pair[1]), pair[0]))[0]


def gas_t_score(levels: list[int], weights: list[float], rho: float = GAS_RHO) -> float:
    """Kiresuk-Sherman T-score of attainment levels with weights."""
    w = np.asarray(weights, float)
    x = np.asarray(levels, float)
    if w.size == 0:
        return float("nan")
    denominator = np.sqrt((1 - rho) * np.sum(w**2) + rho * np.sum(w) ** 2)
    return float(50 + 10 * np.sum(w * x) / denominator)


def intended_vs_actual(intended: pd.DataFrame, estimates: pd.DataFrame) -> pd.DataFrame:
    """Every intended outcome with its estimate (turned to the intended direction),
    classification and GAS level."""
    joined = intended.merge(estimates, on=["site_id", "measure"], how="left")
    sign = np.where(joined["direction"] == "decrease", -1.0, 1.0)
    est = joined["estimate"].to_numpy(float) * sign
    low = np.where(sign > 0, joined["ci_low"], -joined["ci_high"]).astype(float)
    high = np.where(sign > 0, joined["ci_high"], -joined["ci_low"]).astype(float)
    joined["signed_estimate"], joined["signed_ci_low"], joined["signed_ci_high"] = est, low, high
    joined["classification"] = [
        classify(e, lo, hi, t)
        for e, lo, hi, t in zip(est, low, high, joined["target"], strict=True)
    ]
    threshold_columns = [name for _, name in GAS_LEVELS if name in joined]
    joined["gas_level"] = [
        gas_level(e, dict(zip(threshold_columns, row, strict=True)))
        for e, row in zip(est, joined[threshold_columns].itertuples(index=False), strict=True)
    ]
    joined["weight"] = joined["weight"].fillna(1.0) if "weight" in joined else 1.0
    return joined


def gas_by_site(outcomes: pd.DataFrame) -> pd.DataFrame:
    """GAS T-score per site over its measurable outcomes."""
    rows = []
    for site, group in outcomes.groupby("site_id"):
        measured = group[group["gas_level"].notna()]
        rows.append({"site_id": site, "gas_t": gas_t_score(measured["gas_level"].astype(int).tolist(),
                                                          measured["weight"].astype(float).tolist()),
                     "outcomes": len(group), "measured": len(measured)})  # fmt: skip
    return pd.DataFrame(rows)


def unintended_outcomes(
    estimates: pd.DataFrame,
    intended: pd.DataFrame,
    harvested: pd.DataFrame | None = None,
    stories: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Clear changes no intended outcome names, unanticipated harvested outcomes, and
    unexpected stories (text only where the teller consented)."""
    named = set(zip(intended["site_id"], intended["measure"], strict=True))
    clear = estimates[(estimates["ci_low"] > 0) | (estimates["ci_high"] < 0)]
    rows = [
        {"site_id": r.site_id, "source": "measure", "what": r.measure, "estimate": r.estimate,
         "ci_low": r.ci_low, "ci_high": r.ci_high, "valence": None}
        for r in clear.itertuples() if (r.site_id, r.measure) not in named and r.site_id != "all"
    ]  # fmt: skip
    if harvested is not None and not harvested.empty:
        rows += [
            {"site_id": r.site_id, "source": "harvested", "what": r.description, "estimate": np.nan,
             "ci_low": np.nan, "ci_high": np.nan, "valence": r.valence}
            for r in harvested[harvested["anticipated"] == "no"].itertuples()
        ]  # fmt: skip
    if stories is not None and not stories.empty:
        unexpected = stories[(stories["story_expected"] == "no") & stories["story_text"].notna()]
        rows += [
            {"site_id": r.site_id, "source": "story",
             "what": r.story_text if r.consent_story == "yes" else "(story not shared: no consent)",
             "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
             "valence": "positive" if (r.story_valence or 0) > 0 else "negative" if (r.story_valence or 0) < 0 else "mixed"}
            for r in unexpected.itertuples()
        ]  # fmt: skip
    return pd.DataFrame(
        rows, columns=["site_id", "source", "what", "estimate", "ci_low", "ci_high", "valence"]
    )
