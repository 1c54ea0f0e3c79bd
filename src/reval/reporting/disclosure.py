"""Statistical disclosure control: no count below 5 anywhere a reader can see it.

Counts of 0-4 are shown as "<5" (primary suppression). Where a table also shows
totals, a single suppressed cell in a row or column could be worked out by subtraction,
so the next smallest cell in that row or column is suppressed too (secondary
suppression), repeated until no total gives any suppressed cell away. Estimates resting
on fewer than 5 people are withheld, and stories appear only with their teller's consent.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

THRESHOLD: Final[int] = 5
SUPPRESSED: Final[str] = "<5"


def suppress_counts(
    table: pd.DataFrame, *, threshold: int = THRESHOLD, totals: bool = True
) -> pd.DataFrame:
    """A count table (numbers only) as display text with small cells hidden.

    With ``totals`` the row and column totals are appended (computed from the true
    counts) and protected by secondary suppression.
    """
    counts = table.to_numpy(dtype=float)
    hidden = counts < threshold
    if totals:
        hidden = _secondary(counts, hidden)
    shown = pd.DataFrame(
        np.where(hidden, SUPPRESSED, counts.astype(int).astype(str)),
        index=table.index,
        columns=table.columns,
    )
    if totals:
        row_totals = counts.sum(axis=1)
        col_totals = counts.sum(axis=0)
        shown["Total"] = [_cell(v, threshold) for v in row_totals]
        shown.loc["Total"] = [
            *[_cell(v, threshold) for v in col_totals],
            _cell(counts.sum(), threshold),
        ]
    return shown


def _cell(value: float, threshold: int) -> str:
    return SUPPRESSED if value < threshold else str(int(value))


def _secondary(counts: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Hide more cells until no row or column has exactly one hidden cell."""
    hidden = hidden.copy()
    changed = True
    while changed:
        changed = False
        for axis in (0, 1):
            lines = hidden if axis == 1 else hidden.T
            values = counts if axis == 1 else counts.T
            for i in range(lines.shape[0]):
                if lines[i].sum() == 1 and lines.shape[1] > 1:
                    candidates = np.where(lines[i], np.inf, values[i])
                    j = int(np.argmin(candidates))
                    if axis == 1:
                        hidden[i, j] = True
                    else:
                        hidden[j, i] = True
                    changed = True
    return hidden


NOT_PEOPLE: Final[frozenset[str]] = frozenset({"gas_t"})
"""Result kinds whose ``n`` counts something other than people (GAS: outcomes measured)."""


def withhold_small_estimates(results: pd.DataFrame, *, n_column: str = "n",
                             threshold: int = THRESHOLD,
                             not_people: frozenset[str] = NOT_PEOPLE) -> pd.DataFrame:  # fmt: skip
    """Estimates based on fewer than ``threshold`` people lose their numbers and say why."""
    small = results[n_column].notna() & (results[n_column] < threshold)
    if "kind" in results:
        small &= ~results["kind"].isin(not_people)
    out = results.copy()
    for column in ("estimate", "ci_low", "ci_high"):
        if column in out:
            out[column] = out[column].astype(float).where(~small)
    out[n_column] = out[n_column].astype(object).where(~small, SUPPRESSED)
    if "status" in out:
        out.loc[small, "status"] = "withheld: fewer than 5 people"
    return out


def consented_stories(responses: pd.DataFrame) -> pd.DataFrame:
    """Only stories whose teller answered yes to sharing them."""
    has_story = responses["story_text"].notna()
    return responses.loc[has_story & (responses["consent_story"] == "yes")]
