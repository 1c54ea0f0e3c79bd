"""Instrument scoring: SWEMWBS and UCLA-3, as published.

Scores are computed only from complete item sets: SWEMWBS's conversion table is
defined for whole raw sums, and Warwick gives no prorating rule, so a response
with any item missing gets no score (and says so by being missing).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from reval.contract import SWEMWBS_ITEMS, UCLA_ITEMS

SWEMWBS_METRIC: Final[dict[int, float]] = {
    7: 7.00, 8: 9.51, 9: 11.25, 10: 12.40, 11: 13.33, 12: 14.08, 13: 14.75,
    14: 15.32, 15: 15.84, 16: 16.36, 17: 16.88, 18: 17.43, 19: 17.98, 20: 18.59,
    21: 19.25, 22: 19.98, 23: 20.73, 24: 21.54, 25: 22.35, 26: 23.21, 27: 24.11,
    28: 25.03, 29: 26.02, 30: 27.03, 31: 28.13, 32: 29.31, 33: 30.70, 34: 32.55,
    35: 35.00,
}  # fmt: skip
"""Raw sum (7-35) to metric score: Stewart-Brown et al. (2009) Rasch conversion, Table 3."""

SWEMWBS_RELIABLE_CHANGE: Final[float] = round(2.77 * 1.03, 2)
"""2.85 metric points: individual change beyond 2.77 (= 1.96 x sqrt 2) standard errors of
measurement, SEM 1.03 metric points (Shah et al. 2018, Health Qual Life Outcomes 16:239);
written as the product so the value and its derivation cannot drift apart."""

_METRIC_LOOKUP = np.full(36, np.nan)
for _raw, _metric in SWEMWBS_METRIC.items():
    _METRIC_LOOKUP[_raw] = _metric


def swemwbs_raw(items: pd.DataFrame) -> pd.Series:
    """Sum of the seven items (7-35); missing when any item is missing."""
    return items[list(SWEMWBS_ITEMS)].astype("Float64").sum(axis=1, skipna=False).astype("float64")


def swemwbs_metric(raw: pd.Series | np.ndarray) -> np.ndarray:
    """Metric scores for raw sums; NaN where the raw sum is missing."""
    raw_array = np.asarray(raw, dtype="float64")
    out = np.full(raw_array.shape, np.nan)
    known = ~np.isnan(raw_array)
    out[known] = _METRIC_LOOKUP[raw_array[known].astype(int)]
    return out


def swemwbs_score(items: pd.DataFrame) -> pd.Series:
    """Published SWEMWBS metric score (7.00-35.00) per response."""
    return pd.Series(swemwbs_metric(swemwbs_raw(items)), index=items.index, name="swemwbs")


def ucla3_score(items: pd.DataFrame) -> pd.Series:
    """UCLA 3-item loneliness score (3-9, higher is lonelier); missing when any item is."""
    total = items[list(UCLA_ITEMS)].astype("Float64").sum(axis=1, skipna=False)
    return total.astype("float64").rename("ucla3")
