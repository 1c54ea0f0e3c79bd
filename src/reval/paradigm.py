"""Paradigm shift: how far respondents' thinking has moved from old to new.

The paradigm index is reval's own extension of Revaluation (Darnton & Harrison
2016), not a validated scale: mean agreement with new-paradigm statements minus
mean agreement with old-paradigm statements, on the 1-5 agreement scale, so it
runs from -4 (wholly old) to +4 (wholly new).
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

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
