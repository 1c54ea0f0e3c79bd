"""The Revaluation account: what value people see, and how it becomes visible.

Method, in plain words (reused by the reports' methods appendix): at each story session
the group breaks stories into items of value and sorts them into six boxes - value that
can be counted or priced (calculate), judgements about what is worth the effort
(calibrate) and the movement's capacity to grow (capacitate), each either visible now
or invisible (could be evidenced with time). Items that move from invisible to visible
between sessions are themselves a sign of change. The calculated value uses only the
settled, priced items, reduced for what would have happened anyway (deadweight), what
others contributed (attribution), what was merely moved from elsewhere (displacement)
and how the value fades in later years (drop-off); it is always shown as a range over
plausible values of those adjustments, never as one bare figure.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS = ("calculate", "calibrate", "capacitate")
VISIBILITY = ("visible", "invisible")


def six_box_grid(items: pd.DataFrame) -> pd.DataFrame:
    """Item counts per site, session, kind and visibility (every box present, zeros kept)."""
    grid = (
        items.groupby(["site_id", "session_date", "value_kind", "visibility"])
        .size()
        .rename("items")
    )
    full = pd.MultiIndex.from_product(
        [items["site_id"].unique(), items["session_date"].unique(), KINDS, VISIBILITY],
        names=["site_id", "session_date", "value_kind", "visibility"],
    )
    present = items.groupby(["site_id", "session_date"]).size().index
    frame = grid.reindex(full, fill_value=0).reset_index()
    keep = frame.set_index(["site_id", "session_date"]).index.isin(present)
    return frame.loc[keep].reset_index(drop=True)


def moved_to_visible(items: pd.DataFrame) -> pd.DataFrame:
    """Items (same story and wording) invisible at one session and visible at the next."""
    rows = []
    for site, site_items in items.groupby("site_id"):
        sessions = sorted(site_items["session_date"].unique())
        for earlier, later in itertools.pairwise(sessions):
            a = site_items[site_items["session_date"] == earlier].set_index(["story_id", "item"])
            b = site_items[site_items["session_date"] == later].set_index(["story_id", "item"])
            common = a.index.intersection(b.index)
            moved = common[(a.loc[common, "visibility"] == "invisible").to_numpy()
                           & (b.loc[common, "visibility"] == "visible").to_numpy()]  # fmt: skip
            rows += [{"site_id": site, "from_session": earlier, "to_session": later,
                      "story_id": s, "item": i, "value_kind": b.loc[(s, i), "value_kind"]}
                     for s, i in moved]  # fmt: skip
    return pd.DataFrame(
        rows, columns=["site_id", "from_session", "to_session", "story_id", "item", "value_kind"]
    )


def settled_share(items: pd.DataFrame) -> pd.DataFrame:
    """Share of items the group agreed into the settled account, per site and session."""
    return (
        items.assign(is_settled=items["settled"] == "yes")
        .groupby(["site_id", "session_date"])
        .agg(
            items=("item", "size"),
            settled=("is_settled", "sum"),
            share_settled=("is_settled", "mean"),
        )
        .reset_index()
    )


@dataclass(frozen=True)
class Adjustments:
    """Social-value adjustments, each a share from 0 to 1 (drop-off per year after the first)."""

    deadweight: float = 0.25
    attribution: float = 0.30
    displacement: float = 0.10
    drop_off: float = 0.20
    years: int = 3

    def value(self, gross_per_year: float) -> float:
        net = (
            gross_per_year
            * (1 - self.deadweight)
            * (1 - self.attribution)
            * (1 - self.displacement)
        )
        return float(sum(net * (1 - self.drop_off) ** year for year in range(self.years)))


LOW = Adjustments(deadweight=0.40, attribution=0.45, displacement=0.20, drop_off=0.35)
CENTRAL = Adjustments()
HIGH = Adjustments(deadweight=0.10, attribution=0.15, displacement=0.0, drop_off=0.10)


def calculated_value(
    items: pd.DataFrame, scenarios: dict[str, Adjustments] | None = None
) -> pd.DataFrame:
    """Per site and session: gross settled proxy value a year, and the adjusted total over
    the years for each scenario (low, central, high by default)."""
    scenarios = scenarios or {"low": LOW, "central": CENTRAL, "high": HIGH}
    priced = items[(items["value_kind"] == "calculate") & (items["settled"] == "yes")]
    gross = priced.groupby(["site_id", "session_date"])["proxy_value_gbp"].sum()
    sessions = items.groupby(["site_id", "session_date"]).size().index
    gross = gross.reindex(sessions, fill_value=0.0)
    frame = gross.rename("gross_per_year_gbp").reset_index()
    for name, adjustment in scenarios.items():
        frame[f"value_{name}_gbp"] = frame["gross_per_year_gbp"].map(adjustment.value)
    return frame


def value_sensitivity(
    gross_per_year: float, base: Adjustments = CENTRAL, step: float = 0.1
) -> pd.DataFrame:
    """How the adjusted value moves when each adjustment alone moves by +/- ``step``."""
    rows = []
    for name in ("deadweight", "attribution", "displacement", "drop_off"):
        for delta in (-step, step):
            changed = float(np.clip(getattr(base, name) + delta, 0.0, 1.0))
            variant = Adjustments(**{**base.__dict__, name: changed})
            rows.append(
                {"adjustment": name, "value": changed, "total_gbp": variant.value(gross_per_year)}
            )
    return pd.DataFrame(rows)
