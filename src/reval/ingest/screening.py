"""Screening: find the rows pandera could fail, so pandera only has to look at those.

pandera stays the judge of every problem (its failure cases become the messages
in :mod:`reval.ingest.validation`), but running it over a million clean rows
costs seconds of per-column machinery. Screening runs the schema's own check
functions, null, uniqueness and frame-level rules once over the whole (coerced)
frame and marks every row any of them could fail; pandera then validates only
the marked rows. Every rule is row-local except uniqueness, and every member of
a duplicate group is marked, so pandera reports exactly what it would report on
the whole frame. Column-level faults (a missing column, a wrong dtype) do not
depend on rows and show up in the marked-rows frame too, even when it is empty.

Screening may mark more rows than fail (pandera then passes them); it must never
mark fewer. Anything it cannot vouch for (a schema feature it does not model, a
check that is not row by row, a coercion that fails) returns ``None`` and the
caller validates the whole frame with pandera as before.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pandera.errors as pe
import pandera.pandas as pa
import pyarrow.compute as pc

PARALLEL_MIN_ROWS: Final[int] = 50_000
"""Frames this long have their columns screened on several threads."""


@dataclass(frozen=True)
class Screened:
    coerced: pd.DataFrame
    """The whole frame in the schema's dtypes (what pandera's validate would return)."""
    suspect: np.ndarray
    """True for every row some rule might fail."""


def screen(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> Screened | None:
    """Rows that might fail ``schema``, or None when only a full validation can tell."""
    if not _supported(schema) or not frame.index.is_unique or not frame.columns.is_unique:
        return None
    try:
        coerced = schema.coerce_dtype(frame)
    except (pe.SchemaError, pe.SchemaErrors):
        return None
    tasks = [
        (column, coerced[key])
        for name, column in schema.columns.items()
        for key in _columns_for(name, column, coerced)
    ]
    threads = min(os.cpu_count() or 1, 4)
    if len(coerced) >= PARALLEL_MIN_ROWS and threads > 1:  # Arrow kernels release the GIL
        with ThreadPoolExecutor(threads, thread_name_prefix="screen") as pool:
            verdicts = list(pool.map(lambda task: _column_suspects(*task), tasks))
    else:
        verdicts = [_column_suspects(column, series) for column, series in tasks]
    if any(v is None for v in verdicts):
        return None
    suspect = np.zeros(len(coerced), dtype=bool)
    for verdict in verdicts:
        suspect |= verdict
    for check in schema.checks:
        failed = _failed(check, coerced, coerced.index)
        if failed is None:
            return None
        suspect |= failed
    unique = schema.unique or []
    for key in [unique] if all(isinstance(k, str) for k in unique) else unique:
        present = [k for k in key if k in coerced.columns]  # as pandera: the columns there are
        if present:
            suspect |= _duplicated(coerced, present)
    return Screened(coerced, suspect)


def _column_suspects(column: pa.Column, series: pd.Series) -> np.ndarray | None:
    """Rows of one column that its null, unique or value checks might fail."""
    suspect = np.zeros(len(series), dtype=bool)
    if not column.nullable:
        suspect |= series.isna().to_numpy(dtype=bool)
    if column.unique:
        suspect |= _duplicated(series.to_frame(), [series.name])
    for check in column.checks:
        failed = _failed(check, series, series.index)
        if failed is None:
            return None
        suspect |= failed
    return suspect


def _duplicated(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """``frame.duplicated(subset=columns, keep=False)``, skipped when one key column has
    no repeated value (then no two rows can share the whole key)."""
    if any(_all_distinct(frame[c]) for c in columns):
        return np.zeros(len(frame), dtype=bool)
    return frame.duplicated(subset=columns, keep=False).to_numpy(dtype=bool)


def _all_distinct(series: pd.Series) -> bool:
    """No value twice (a blank counts as a value, as ``duplicated`` counts it)."""
    values = getattr(series.array, "_pa_array", None)
    if values is not None:  # Arrow-backed: Arrow's hash is several times pandas' factorize
        return len(pc.unique(values)) == len(series)
    return bool(series.is_unique)


def _supported(schema: pa.DataFrameSchema) -> bool:
    """Only the schema features screening models (everything the contract uses)."""
    if schema.index is not None or schema.parsers or schema.dtype is not None:
        return False
    if schema.drop_invalid_rows or schema.add_missing_columns or schema.strict == "filter":
        return False
    return all(
        not column.parsers
        and column.default is None
        and not column.drop_invalid_rows
        and all(check.groupby is None and not check.element_wise for check in column.checks)
        for column in schema.columns.values()
    ) and all(check.groupby is None and not check.element_wise for check in schema.checks)


def _columns_for(name: str, column: pa.Column, frame: pd.DataFrame) -> list[str]:
    """The frame's columns a schema column governs, matched the way pandera matches them."""
    if not column.regex:
        return [name] if name in frame.columns else []
    matched = pd.Index(frame.columns.astype(str).str.match(name)).fillna(False).tolist()
    return list(frame.columns[matched])


def _failed(check: pa.Check, data: pd.Series | pd.DataFrame, index: pd.Index) -> np.ndarray | None:
    """Rows where ``check`` (pandera's own implementation) does not pass."""
    output = check(data).check_output
    if isinstance(output, pd.DataFrame):
        output = output.all(axis=1)
    if not isinstance(output, pd.Series):
        return None  # a whole-column verdict: cannot say which rows
    failed = ~output.fillna(False).to_numpy(dtype=bool)
    if len(output) == len(index) and output.index.equals(index):
        return failed
    # pandera dropped the blanks before an ignore_na check: they pass
    present = data.notna().to_numpy(dtype=bool) if isinstance(data, pd.Series) else None
    if (
        present is not None
        and int(present.sum()) == len(output)
        and output.index.equals(index[present])
    ):
        scattered = np.zeros(len(index), dtype=bool)
        scattered[present] = failed
        return scattered
    passed = output.reindex(index, fill_value=True).fillna(False).astype(bool)
    return ~passed.to_numpy(dtype=bool)
