"""Matched-comparison effects for a programme's ``comparison_records``.

Every outcome that has ``pre_`` and ``post_`` columns, for each site and pooled
(matching exactly on site), as one tidy frame the caller stores. Pure: frames in,
frames out.
"""

from __future__ import annotations

from typing import Final

import pandas as pd

from reval.contract import OUTCOME_POST, OUTCOME_PRE
from reval.matching import Distance, MatchingError, balance, effect, match

COVARIATES: Final[tuple[str, ...]] = ("age", "sex", "imd_decile", "ltc_count")
COUNT_OUTCOMES: Final[frozenset[str]] = frozenset({"ae_visits", "gp_contacts", "admissions"})
POOLED: Final[str] = "all"


def paired_outcomes(records: pd.DataFrame) -> list[str]:
    """Outcomes with both a before and an after column."""
    pre = {m["outcome"] for c in records.columns if (m := OUTCOME_PRE.match(c))}
    post = {m["outcome"] for c in records.columns if (m := OUTCOME_POST.match(c))}
    return sorted(pre & post)


def matched_effects(
    records: pd.DataFrame,
    *,
    caliper: float = 0.2,
    ratio: int = 3,
    exact: tuple[str, ...] = (),
    distance: Distance = "logit",
    count_outcomes: frozenset[str] = COUNT_OUTCOMES,
    only_pooled: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(effects, balance) for every site and pooled (``only_pooled``: the pooled rows
    alone, for a caller that already holds each site's).

    For each outcome, people are matched on age, sex, deprivation, long-term
    conditions and the outcome's own baseline value (nearest neighbour on the logit
    of the propensity score, caliper 0.2 SD, exact on site when pooled). Comparison
    pools are usually several times larger than the participant group, so each
    participant gets up to three comparisons: more precision and closer balance than
    1:1 (on the sample programme 1:1 leaves some |SMD| above 0.1, 1:3 none); the
    effect is the difference-in-differences of post - pre, and for counts also the
    rate ratio of post adjusted for pre. A site whose matching fails gets a row with
    status "failed" and the reason, so one site never stops the others.
    """
    data = records.assign(_treated=(records["group"] == "participant").astype(int))
    effects: list[dict[str, object]] = []
    balances: list[pd.DataFrame] = []
    sites = sorted(data["site_id"].dropna().unique())
    for outcome in paired_outcomes(data):
        pre, post = f"pre_{outcome}", f"post_{outcome}"
        covariates = [*COVARIATES, pre]
        places = [*sites, POOLED] if len(sites) > 1 else sites
        for site in [POOLED] if only_pooled and len(sites) > 1 else places:
            subset = data if site == POOLED else data[data["site_id"] == site]
            subset = subset.dropna(subset=[pre, post])
            try:
                sample = match(subset, "_treated", covariates, distance=distance, caliper=caliper,
                               ratio=ratio,
                               exact=[*exact, *(["site_id"] if site == POOLED else [])] or None)  # fmt: skip
            except MatchingError as error:
                effects.append({"site_id": site, "outcome": outcome, "kind": "did",
                                "status": "failed", "message": str(error)})  # fmt: skip
                continue
            table = balance(sample).assign(site_id=site, outcome=outcome)
            balances.append(table)
            did = effect(sample, post, pre=pre)
            effects.append(_row(site, outcome, "did", did, table))
            if outcome in count_outcomes:
                rates = effect(sample, post, pre=pre, scale="rate_ratio")
                effects.append(_row(site, outcome, "rate_ratio", rates, table))
    return pd.DataFrame(effects), (
        pd.concat(balances, ignore_index=True) if balances else pd.DataFrame()
    )


def _row(site: str, outcome: str, kind: str, result, table: pd.DataFrame) -> dict[str, object]:  # type: ignore[no-untyped-def]
    flagged = table.loc[table["flag"], "covariate"].tolist()
    return {
        "site_id": site,
        "outcome": outcome,
        "kind": kind,
        "estimate": result.estimate,
        "se": result.se,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": result.p_value,
        "e_value": result.e_value,
        "e_value_ci": result.e_value_ci,
        "n_matched_treated": result.n_matched_treated,
        "n_matched_control": result.n_matched_control,
        "n_treated": table.attrs["n_treated"],
        "n_control": table.attrs["n_control"],
        "max_abs_smd_after": float(
            table.loc[table["covariate"] != "distance", "smd_after"].abs().max()
        ),
        "unbalanced": ", ".join(flagged),
        "status": "ok" if not flagged else "unbalanced",
        "message": "" if not flagged else f"|SMD| >= 0.1 after matching for {', '.join(flagged)}",
    }
