"""Instrument scoring: every instrument of the registry, as its published rules say.

The rules are data (``schemas/instruments.yaml``, or a programme's own battery in
``programme.yaml``): items, reverse-scored items, sum / mean / conversion table, and the
fewest items answered for a score. Scoring is one pure function over the items; a response
answering too few items gets no score (and says so by being missing). SWEMWBS's conversion
table is defined for whole raw sums and Warwick gives no prorating rule, so a SWEMWBS score
needs every item.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from reval.contract import Instrument, instrument_registry

SWEMWBS_RELIABLE_CHANGE: Final[float] = round(2.77 * 1.03, 2)
"""2.85 metric points: individual change beyond 2.77 (= 1.96 x sqrt 2) standard errors of
measurement, SEM 1.03 metric points (Shah et al. 2018, Health Qual Life Outcomes 16:239);
written as the product so the value and its derivation cannot drift apart."""

SWEMWBS_METRIC: Final[dict[int, float]] = dict(instrument_registry()["swemwbs"].conversion or {})
"""Raw sum (7-35) to metric score: Stewart-Brown et al. (2009) Rasch conversion, Table 3."""


def instrument_scores(responses: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """One column per measure of ``instrument`` (its score, or each item for ``each_item``
    instruments), one row per response; missing where too few items were answered.

    - reverse items count ``min + max - answer``;
    - ``sum``: the sum of the items; with fewer than every item (but at least
      ``minimum_items``) the mean of those answered times the number of items (prorated);
    - ``mean``: the mean of the items answered;
    - ``conversion``: the raw sum looked up in the published table (every item needed).
    """
    columns = list(instrument.item_columns)
    present = [c for c in columns if c in responses]
    if instrument.scoring == "each_item":
        return pd.DataFrame(
            {c: pd.to_numeric(responses[c], errors="coerce").astype(float) if c in responses
             else np.nan for c in columns}, index=responses.index)  # fmt: skip
    values = pd.DataFrame(
        {c: pd.to_numeric(responses[c], errors="coerce").astype(float) if c in present
         else np.nan for c in columns}, index=responses.index)  # fmt: skip
    low, high = min(instrument.scale.values), max(instrument.scale.values)
    for key in instrument.reverse_items:
        column = instrument.column(key)
        values[column] = low + high - values[column]
    answered = values.notna().sum(axis=1)
    enough = answered >= instrument.minimum_items
    if instrument.scoring == "mean":
        score = values.mean(axis=1)
    elif instrument.scoring == "sum":
        score = values.mean(axis=1) * len(columns)
    else:  # conversion: whole raw sums only
        raw = values.sum(axis=1, min_count=len(columns))
        table = instrument.conversion or {}
        score = raw.map(lambda r: table.get(int(r), np.nan) if pd.notna(r) else np.nan)
        enough &= answered == len(columns)
    return pd.DataFrame({instrument.key: score.where(enough).astype(float)}, index=responses.index)


def swemwbs_raw(items: pd.DataFrame) -> pd.Series:
    """Sum of the seven items (7-35); missing when any item is missing."""
    columns = list(instrument_registry()["swemwbs"].item_columns)
    return items[columns].astype("Float64").sum(axis=1, skipna=False).astype("float64")


def swemwbs_metric(raw: pd.Series | np.ndarray) -> np.ndarray:
    """Metric scores for raw sums; NaN where the raw sum is missing."""
    raw_array = np.asarray(raw, dtype="float64")
    lookup = np.full(36, np.nan)
    for raw_sum, metric in SWEMWBS_METRIC.items():
        lookup[raw_sum] = metric
    out = np.full(raw_array.shape, np.nan)
    known = ~np.isnan(raw_array)
    out[known] = lookup[raw_array[known].astype(int)]
    return out


def swemwbs_score(items: pd.DataFrame) -> pd.Series:
    """Published SWEMWBS metric score (7.00-35.00) per response."""
    return instrument_scores(items, instrument_registry()["swemwbs"])["swemwbs"]


def ucla3_score(items: pd.DataFrame) -> pd.Series:
    """UCLA 3-item loneliness score (3-9, higher is lonelier); missing when any item is."""
    return instrument_scores(items, instrument_registry()["ucla3"])["ucla3"]
