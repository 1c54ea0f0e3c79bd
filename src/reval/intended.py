"""Intended versus actual outcomes, Goal Attainment Scaling, and what nobody intended.

Method, in plain words (reused by the reports' methods appendix): every outcome a site
set out to achieve is joined to one stored estimate of its measure (survey change from
baseline to the site's latest follow-up wave, named in the tables, or the
matched-comparison difference-in-differences) and turned round so that "more" always
means "in the direction the site wanted". Its verdict is read from the whole 95%
interval, never from the point estimate alone:
achieved - the whole interval is on the intended side of no change and it reaches the target;
partly achieved - the whole interval is on the intended side of no change but even its top end falls short of the target;
no change shown - the whole interval lies within the equivalence margin around zero (half the target unless the site sets one), so any change is smaller than one that matters;
inconclusive - the interval is too wide to tell (it includes no change and also changes that matter);
reversed - the whole interval is against the intended direction;
not measurable - there is no estimate (the reason is given).
Twenty-odd verdicts are many chances to be fooled by noise, so each outcome's estimate and
interval also give how likely a change this clear would be if there were none (normal
approximation), and the Benjamini-Hochberg procedure is applied to these across all of a
programme's outcomes at a 5% false discovery rate; a clear verdict (achieved, partly
achieved, reversed) that does not survive it is flagged "could be chance". Goal Attainment Scaling (Kiresuk & Sherman 1968) gives each
outcome a level from -2 to +2 and combines them per site as T = 50 + 10 sum(w x) / sqrt((1 -
rho) sum(w^2) + rho (sum w)^2) with rho = 0.3, Kiresuk and Sherman's assumed correlation
between a person's goals; all targets exactly met gives 50. Where the site set its own
thresholds the level is the one whose threshold lies nearest the estimate, claimed only
if both ends of the interval lie within one level of it. Where the site gave only a
target, the level is derived (and marked "derived") from the verdict on the default
scale of Turner-Stokes (2009): -2 = change against the intended direction, -1 = no
change or short of the target, 0 = target reached, +1 = the whole interval beyond the
target, +2 = the whole interval beyond twice the target. A reversed outcome never scores
0 or more. A level the interval does not support is "inconclusive" and left out of T,
and the T-score says how many outcomes it rests on. GAS depends on how the levels were set
and has known limits of reliability, so it is shown beside the verdicts, never instead
of them. Unintended outcomes are clear changes (interval excluding zero) in measures no
intended outcome names, harvested outcomes nobody anticipated, and stories their tellers
did not expect.

References: Kiresuk TJ, Sherman RE (1968) Goal attainment scaling: a general method for
evaluating comprehensive community mental health programs. Community Mental Health
Journal 4(6):443-453. Turner-Stokes L (2009) Goal attainment scaling (GAS) in
rehabilitation: a practical guide. Clinical Rehabilitation 23(4):362-370.
Benjamini Y, Hochberg Y (1995) Controlling the false discovery rate. JRSS B 57:289-300.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import numpy as np
import pandas as pd

Verdict = Literal[
    "achieved", "partly achieved", "no change shown", "inconclusive", "reversed", "not measurable"
]
VERDICTS: Final[tuple[Verdict, ...]] = (
    "achieved", "partly achieved", "no change shown", "inconclusive", "reversed", "not measurable",
)  # fmt: skip
VERDICT_RULES: Final[dict[str, str]] = {
    "achieved": "the whole 95% interval shows change in the intended direction and reaches the target",
    "partly achieved": "the whole 95% interval shows change in the intended direction, but even its top "
    "end falls short of the target",
    "no change shown": "the whole 95% interval lies within the margin around zero stated for the measure, "
    "so any change is too small to matter",
    "inconclusive": "the 95% interval is too wide to tell: it includes no change and also changes that "
    "matter",
    "reversed": "the whole 95% interval shows change against the intended direction",
    "not measurable": "there is no estimate for the measure (the reason is given)",
}
"""One plain sentence per verdict, for the reports."""
CLEAR_VERDICTS: Final[frozenset[str]] = frozenset({"achieved", "partly achieved", "reversed"})
GAS_RHO: Final[float] = 0.3
"""Kiresuk & Sherman's (1968) assumed correlation between the goal scores."""
DEFAULT_MARGIN_SHARE: Final[float] = 0.5
"""Without a site's own margin, a change under half the target counts as no change that matters."""
FDR_Q: Final[float] = 0.05
GAS_LEVELS: Final[tuple[tuple[int, str], ...]] = (
    (-2, "gas_m2"),
    (-1, "gas_m1"),
    (0, "target"),
    (1, "gas_p1"),
    (2, "gas_p2"),
)
THRESHOLDS: Final[tuple[str, ...]] = ("gas_m2", "gas_m1", "gas_p1", "gas_p2")
Z95: Final[float] = 1.959963984540054
"""The normal 97.5% point (no scipy import for reports that only read verdicts)."""


def estimates_by_measure(survey_change: pd.DataFrame, matched: pd.DataFrame) -> pd.DataFrame:
    """One estimate per site and measure, with its wave: survey change at each site's
    latest follow-up wave, and matched-comparison difference-in-differences for
    comparison outcomes (no wave: one before and one after period)."""
    columns = ["site_id", "measure", "wave", "estimate", "ci_low", "ci_high", "n", "source"]
    frames = []
    if not survey_change.empty:
        latest = survey_change.sort_values("wave").groupby(["site_id", "measure"]).tail(1)
        frames.append(latest.assign(source="survey_change").reindex(columns=columns))
    if not matched.empty:
        did = matched[(matched["kind"] == "did") & (matched.get("status", "ok") != "failed")]
        did = did.rename(columns={"outcome": "measure", "n_matched_treated": "n"})
        frames.append(did.assign(source="matched_did", wave=np.nan).reindex(columns=columns))
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)


def equivalence_margin(target: float, margin: float | None = None) -> float:
    """The band around zero inside which a change is "no change that matters": the site's
    own margin if given, else half the target (a no-change band as wide as the target
    would swallow the target itself)."""
    if margin is not None and not pd.isna(margin) and margin > 0:
        return float(min(margin, target)) if target > 0 else float(margin)
    return DEFAULT_MARGIN_SHARE * float(target)


def classify(
    signed_estimate: float,
    signed_low: float,
    signed_high: float,
    target: float,
    margin: float | None = None,
) -> Verdict:
    """The documented rule, on an estimate already turned to the intended direction."""
    if any(pd.isna(v) for v in (signed_estimate, signed_low, signed_high)):
        return "not measurable"
    if signed_high < 0:
        return "reversed"
    if signed_low > 0:
        return "achieved" if signed_high >= target else "partly achieved"
    band = equivalence_margin(target, margin)
    if -band <= signed_low and signed_high <= band:
        return "no change shown"
    return "inconclusive"


def gas_level(signed_estimate: float, thresholds: dict[str, float]) -> int | None:
    """The level whose threshold is nearest the estimate (ties go to the lower level)."""
    if pd.isna(signed_estimate):
        return None
    known = [(level, thresholds[name]) for level, name in GAS_LEVELS
             if name in thresholds and not pd.isna(thresholds[name])]  # fmt: skip
    if not known:
        return None
    return min(known, key=lambda pair: (abs(signed_estimate - pair[1]), pair[0]))[0]


def derived_gas_level(verdict: str, signed_low: float, target: float) -> int | None:
    """Turner-Stokes's default scale read from the verdict on the interval: -2 against
    the intended direction, -1 no change or short of the target, 0 target reached, +1
    the whole interval beyond the target, +2 beyond twice the target; None where the
    interval cannot tell (inconclusive, not measurable)."""
    if verdict == "reversed":
        return -2
    if verdict in ("no change shown", "partly achieved"):
        return -1
    if verdict == "achieved":
        if signed_low > 2 * target:
            return 2
        return 1 if signed_low > target else 0
    return None


def site_gas_level(
    signed_estimate: float, signed_low: float, signed_high: float, thresholds: dict[str, float]
) -> int | None:
    """The level nearest the estimate on the site's own scale, claimed only when both
    ends of the interval lie within one level of it."""
    level = gas_level(signed_estimate, thresholds)
    if level is None or pd.isna(signed_low) or pd.isna(signed_high):
        return None
    ends = (gas_level(signed_low, thresholds), gas_level(signed_high, thresholds))
    return level if all(e is not None and abs(e - level) <= 1 for e in ends) else None


def gas_assessment(
    verdict: str,
    signed_estimate: float,
    signed_low: float,
    signed_high: float,
    target: float,
    thresholds: dict[str, float],
) -> tuple[int | None, str]:
    """An outcome's GAS level and how it was set: "site scale", "derived" (no thresholds),
    "inconclusive" (the interval does not support one level) or "not measurable"."""
    if verdict == "not measurable":
        return None, "not measurable"
    given = {k: v for k, v in thresholds.items() if k in THRESHOLDS and not pd.isna(v)}
    if not given:
        level = derived_gas_level(verdict, signed_low, target)
        return (level, "derived") if level is not None else (None, "inconclusive")
    points = {**given, "target": target}
    if "gas_m2" not in points and "gas_m1" not in points:
        # half a scale leaves the wrong side unscored: the default -1 (no change) fills in
        points["gas_m1"] = 0.0
    level = site_gas_level(signed_estimate, signed_low, signed_high, points)
    if level is None:
        return None, "inconclusive"
    if verdict == "reversed" and level >= 0:
        level = -2 if "gas_m2" not in given else -1  # a wrong-way change is never "on target"
    basis = "site scale" if len(given) == len(THRESHOLDS) else "site scale, gaps derived"
    return level, basis


def no_change_p_value(signed_estimate: float, signed_low: float, signed_high: float) -> float:
    """Two-sided p-value for "no change" recovered from an estimate and its 95% interval
    (normal approximation: standard error = interval width / (2 x 1.96))."""
    if any(pd.isna(v) for v in (signed_estimate, signed_low, signed_high)):
        return math.nan
    se = (signed_high - signed_low) / (2 * Z95)
    if se <= 0:
        return math.nan
    return math.erfc(abs(signed_estimate) / se / math.sqrt(2))


def benjamini_hochberg(p_values: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values (missing stay missing)."""
    p = p_values.astype(float)
    known = p.dropna().sort_values()
    m = len(known)
    if m == 0:
        return p
    ranked = known.to_numpy() * m / np.arange(1, m + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return pd.Series(adjusted, index=known.index).reindex(p.index)


def _not_measurable_reason(measure: str, source: object) -> str:
    if pd.isna(source):
        return (
            f"no estimate for {measure}: no respondent answered it at baseline and a follow-up, "
            "and no matched comparison measured it"
        )
    return f"the model for {measure} gave no interval"


def intended_vs_actual(intended: pd.DataFrame, estimates: pd.DataFrame) -> pd.DataFrame:
    """Every intended outcome with its estimate (turned to the intended direction) and
    wave, verdict, equivalence margin, false-discovery check and GAS level."""
    joined = intended.merge(estimates, on=["site_id", "measure"], how="left")
    sign = np.where(joined["direction"] == "decrease", -1.0, 1.0)
    est = joined["estimate"].to_numpy(float) * sign
    low = np.where(sign > 0, joined["ci_low"], -joined["ci_high"]).astype(float)
    high = np.where(sign > 0, joined["ci_high"], -joined["ci_low"]).astype(float)
    joined["signed_estimate"], joined["signed_ci_low"], joined["signed_ci_high"] = est, low, high
    target = joined["target"].astype(float).to_numpy()
    own = (
        joined["no_change_margin"]
        if "no_change_margin" in joined
        else pd.Series(np.nan, index=joined.index)
    )
    joined["margin"] = [equivalence_margin(t, m) for t, m in zip(target, own, strict=True)]
    joined["classification"] = [
        classify(e, lo, hi, t, m)
        for e, lo, hi, t, m in zip(est, low, high, target, joined["margin"], strict=True)
    ]
    joined["p_value"] = [
        no_change_p_value(e, lo, hi) for e, lo, hi in zip(est, low, high, strict=True)
    ]
    joined["p_adjusted"] = benjamini_hochberg(joined["p_value"])
    joined["survives_fdr"] = [
        None if pd.isna(q) else bool(q <= FDR_Q) for q in joined["p_adjusted"]
    ]
    joined["fdr_flag"] = [
        v in CLEAR_VERDICTS and s is False
        for v, s in zip(joined["classification"], joined["survives_fdr"], strict=True)
    ]
    columns = [name for name in THRESHOLDS if name in joined]
    levels, bases = [], []
    for i, row in enumerate(joined.itertuples(index=False)):
        thresholds = {name: getattr(row, name) for name in columns}
        level, basis = gas_assessment(
            row.classification, est[i], low[i], high[i], target[i], thresholds
        )
        levels.append(level)
        bases.append(basis)
    joined["gas_level"] = pd.array(levels, dtype="Int64")
    joined["gas_basis"] = bases
    joined["why_not_measurable"] = [
        _not_measurable_reason(m, s) if v == "not measurable" else None
        for m, s, v in zip(
            joined["measure"], joined["source"], joined["classification"], strict=True
        )
    ]
    joined["weight"] = joined["weight"].fillna(1.0) if "weight" in joined else 1.0
    return joined


def gas_t_score(levels: list[int], weights: list[float], rho: float = GAS_RHO) -> float:
    """Kiresuk-Sherman T-score of attainment levels with weights."""
    w = np.asarray(weights, float)
    x = np.asarray(levels, float)
    if w.size == 0:
        return float("nan")
    denominator = np.sqrt((1 - rho) * np.sum(w**2) + rho * np.sum(w) ** 2)
    return float(50 + 10 * np.sum(w * x) / denominator)


def gas_by_site(outcomes: pd.DataFrame) -> pd.DataFrame:
    """GAS T-score per site over the outcomes with a supported level, and a note saying
    what it rests on (how many levels were derived, which were left out and why)."""
    rows = []
    for site, group in outcomes.groupby("site_id"):
        scored = group[group["gas_level"].notna()]
        left_out = group[group["gas_level"].isna()]
        derived = int(scored["gas_basis"].eq("derived").sum()) if "gas_basis" in scored else 0
        note = f"{len(scored)} of {len(group)} outcomes scored"
        if derived:
            note += f"; {derived} on the derived default scale (no site thresholds)"
        if len(left_out):
            why = left_out["gas_basis"] if "gas_basis" in left_out else left_out["classification"]
            note += "; left out: " + ", ".join(
                f"{o} ({b})" for o, b in zip(left_out["outcome_id"], why, strict=True)
            )
        t = gas_t_score(
            scored["gas_level"].astype(int).tolist(), scored["weight"].astype(float).tolist()
        )
        rows.append({"site_id": site, "gas_t": t, "outcomes": len(group), "measured": len(scored),
                     "derived": derived, "note": note})  # fmt: skip
    return pd.DataFrame(
        rows, columns=["site_id", "gas_t", "outcomes", "measured", "derived", "note"]
    )


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
