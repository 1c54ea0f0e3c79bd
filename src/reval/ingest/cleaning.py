"""Cell cleaning: raw spreadsheet cells to the contract's types, or a problem.

Hand-made spreadsheets hold numbers stored as text, Likert answers as words
with stray capitals and spaces, dates typed three ways. Each cell either
becomes a clean value or yields a :class:`Problem` (and is left blank so
validation does not report it twice). Nothing is guessed: a date that could be
read two ways is a problem, not a coin toss.

Personal identifiers are caught here, before anything is stored: a cell holding an
NHS number anywhere in it (``reval.identifiers``: ten digits passing the modulus-11
check, alone or inside text) is a cell problem, and the number is masked in every copy
reval keeps. So is a cell showing the mask itself, so a redacted archive copy read
again gives the same answer as the original did.

Work is column-at-a-time (vectorised) so a million-row upload cleans in seconds;
only cells that fail the fast path are looked at one by one.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import pandera.pandas as pa_schema
import pyarrow as pa
import pyarrow.compute as pc

from reval.contract import Contract, column_answer_scale, column_in, default_contract
from reval.identifiers import NHS_NUMBER_MASK, PREFILTER, has_nhs_number, mask_nhs_numbers
from reval.identifiers import is_nhs_number as is_nhs_number
from reval.ingest.problems import Problem, ReasonCode
from reval.ingest.readers import SheetTable

UK_DATE: Final = r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{4}$"
ISO_DATE: Final = r"^\d{4}-\d{1,2}-\d{1,2}$"
MIDNIGHT: Final = r"[T ]00:00(:00)?$"
DATE_EXPECTED: Final = "is not a date reval can read; write it as 2016-04-01 or 01/04/2016 (day first, four-digit year)"
NHS_EXPECTED: Final = (
    "looks like an NHS number, which must never be uploaded; it has been removed. "
    "Use the pseudonymous code your site agreed instead"
)


@dataclass(frozen=True)
class CleanedTable:
    sheet: SheetTable
    frame: pd.DataFrame
    """Typed cells (blank where a cell could not be read)."""
    source: pd.DataFrame
    """The cells as uploaded, with personal identifiers masked: what rejected rows keep."""
    problems: list[Problem]


PARALLEL_MIN_ROWS: Final[int] = 50_000
"""Sheets this long clean their columns on several threads (Arrow releases the GIL)."""


def clean_table(sheet: SheetTable, contract: Contract | None = None) -> CleanedTable:
    """Typed cells for one sheet, and a problem for every cell that could not be read
    (types as the programme's contract says; default: the sample programme's)."""
    schema = (contract or default_contract()).schema(sheet.table)
    frame: dict[str, pd.Series] = {}
    problems: list[Problem] = []
    source = sheet.frame
    masked = False
    columns = [(name, source[name]) for name in source.columns]
    threads = min(os.cpu_count() or 1, 4)
    if len(source) >= PARALLEL_MIN_ROWS and threads > 1:
        # columns are independent; at most `threads` columns' working copies exist at once
        with ThreadPoolExecutor(threads, thread_name_prefix="clean") as pool:
            results = list(pool.map(lambda column: _clean_column(sheet, schema, *column), columns))
    else:
        results = [_clean_column(sheet, schema, name, raw) for name, raw in columns]
    for (name, _), (typed, column_problems, masked_raw) in zip(columns, results, strict=True):
        if masked_raw is not None:
            if not masked:
                source = source.copy()
                masked = True
            source[name] = masked_raw
        frame[name] = typed
        problems.extend(column_problems)
    cleaned = pd.DataFrame(frame, index=sheet.frame.index, copy=False)  # columns are new already
    return CleanedTable(sheet, cleaned, source, problems)


def _clean_column(
    sheet: SheetTable, schema: pa_schema.DataFrameSchema, name: str, raw: pd.Series
) -> tuple[pd.Series, list[Problem], pd.Series | None]:
    """One column typed, its problems, and the column as uploaded with NHS numbers masked
    (None when it held none)."""
    text = cell_text(raw)
    nhs = nhs_number_mask(text)
    problems: list[Problem] = []
    masked_raw = None
    if nhs.any():
        masked_raw = raw.astype(object).copy()
        masked_raw.loc[nhs] = text[nhs].map(mask_nhs_numbers)
        raw = masked_raw
        text = text.where(~nhs, None)
        problems.extend(
            _cell_problems(sheet, name, nhs, masked_raw, NHS_EXPECTED, "personal_identifier")
        )
    typed, cell_problems = _typed_column(sheet, column_in(schema, name), name, text, raw)
    return typed, problems + cell_problems, masked_raw


def _typed_column(
    sheet: SheetTable, column: pa_schema.Column | None, name: str, text: pd.Series, raw: pd.Series
) -> tuple[pd.Series, list[Problem]]:
    """One column in the contract's type, and a problem per cell that is not."""
    if column is None:
        return text, []  # unknown columns pass through for validation to judge
    dtype = str(column.dtype)
    scale = column_answer_scale(column)
    if scale is not None:
        values, failed = answers(text, scale.label_to_value())
        expected, reason = f"is not an answer on this scale; use {scale.describe()}", "not_on_scale"
    elif dtype.startswith("datetime"):
        values, failed = dates(text)
        expected, reason = DATE_EXPECTED, "bad_format"
    elif dtype in {"Int64", "int64"}:
        values, failed = whole_numbers(text)
        expected, reason = "is not a whole number; write digits only, like 3", "wrong_type"
    elif dtype.startswith("float"):
        values, failed = numbers(text)
        expected = "is not a number; write digits only, like 2.5 (no units or £ signs)"
        reason = "wrong_type"
    else:
        return collapse_spaces(text), []
    if not failed.any():
        return values, []
    return values.where(~failed), _cell_problems(sheet, name, failed, raw, expected, reason)


def _with_value(problem: Problem, value: str) -> Problem:
    return Problem(problem.file, problem.sheet, problem.row, problem.column, value,
                   problem.expected, problem.reason)  # fmt: skip


def _cell_problems(
    sheet: SheetTable,
    name: str,
    failed: pd.Series,
    raw: pd.Series | None,
    expected: str,
    reason: ReasonCode,
) -> list[Problem]:
    rows = failed.index[failed.to_numpy(dtype=bool)]
    return [
        Problem(
            sheet.file,
            sheet.sheet,
            int(row),
            name,
            None if raw is None else _shown(raw.loc[row]),
            expected,
            reason,
        )
        for row in rows
    ]


# --- column transforms (pure, vectorised) ---------------------------------------------------


def cell_text(raw: pd.Series) -> pd.Series:
    """Cells as trimmed text, blank -> missing. Excel numbers lose a spurious '.0'."""
    if isinstance(raw.dtype, pd.ArrowDtype) and pa.types.is_string(raw.dtype.pyarrow_dtype):
        # as .str.strip() then .where(not blank), but blanks become nulls by a validity
        # bitmap over the trimmed buffers instead of a copy of every string
        trimmed = pc.utf8_trim_whitespace(raw.array._pa_array)
        chunks = [_blank_as_null(chunk) for chunk in trimmed.chunks]
        return pd.Series(
            pd.arrays.ArrowExtensionArray(pa.chunked_array(chunks, type=trimmed.type)),
            index=raw.index,
            name=raw.name,
        )
    if pd.api.types.is_string_dtype(raw.dtype) and raw.dtype != object:
        text = raw.str.strip()
    else:
        text = raw.map(_cell_to_text, na_action="ignore").astype("str")
        text = text.str.strip()
    return text.where(text.notna() & (text != ""), None)


def _blank_as_null(chunk: pa.Array) -> pa.Array:
    filled = pc.fill_null(pc.not_equal(chunk, ""), False)
    if chunk.offset or filled.offset:
        return pc.if_else(filled, chunk, pa.scalar(None, chunk.type))
    return pa.Array.from_buffers(
        chunk.type, len(chunk), [filled.buffers()[1], *chunk.buffers()[1:]]
    )


def _cell_to_text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if np.isnan(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, pd.Timestamp | dt.datetime):
        return (
            value.isoformat(sep=" ")
            if (value.hour or value.minute or value.second)
            else value.strftime("%Y-%m-%d")
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value)


def _arrow(text: pd.Series) -> pa.Array | pa.ChunkedArray:
    if isinstance(text.dtype, pd.ArrowDtype):
        return text.array._pa_array  # zero-copy view of the uploaded column
    return pa.array(text.astype("str"), type=pa.large_string(), from_pandas=True)


def collapse_spaces(text: pd.Series) -> pd.Series:
    """Runs of whitespace inside a cell become one space (only where there are any)."""
    arr = _arrow(text)
    if not pc.any(pc.match_substring_regex(arr, r"\s\s|[\t\n\r\f\v\xa0]")).as_py():
        return text
    collapsed = pc.replace_substring_regex(arr, r"\s+", " ").to_numpy(zero_copy_only=False)
    return pd.Series(collapsed, index=text.index, dtype="str").where(text.notna(), None)


def numbers(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Floats, and where the text was not a number."""
    try:  # fast path: every cell is a plain number (Arrow's cast is ~40x pandas' parser)
        cast = pc.cast(_arrow(text), pa.float64())
        values = pd.Series(
            np.array(cast.to_numpy(zero_copy_only=False), dtype="float64"), index=text.index
        )
        return values, pd.Series(False, index=text.index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parsed = pd.to_numeric(text, errors="coerce")
    values = pd.Series(parsed.to_numpy(dtype="float64", na_value=np.nan), index=text.index).copy()
    failed = text.notna() & values.isna()
    if failed.any():
        retried = text[failed].map(_number_fallback)
        values.loc[retried.index] = retried.astype("float64")
        failed = text.notna() & values.isna()
    return values, failed


def _number_fallback(text: str) -> float:
    cleaned = text.replace("\u00a0", "").replace(" ", "")
    if re.fullmatch(r"[+-]?\d+,\d+", cleaned):
        cleaned = cleaned.replace(",", ".")  # decimal comma
    elif re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", cleaned):
        cleaned = cleaned.replace(",", "")  # thousands separators
    try:
        return float(cleaned)
    except ValueError:
        return float("nan")


def whole_numbers(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, failed = numbers(text)
    fractional = values.notna() & ~_integral(values)
    failed = failed | fractional
    return _int64(values, failed), failed


def _integral(values: pd.Series) -> pd.Series:
    """Finite whole numbers (as ``values % 1 == 0``, without the modulo)."""
    v = values.to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(v) & (v == np.trunc(v))
    return pd.Series(whole, index=values.index)


def _int64(values: pd.Series, failed: pd.Series) -> pd.Series:
    """``values.where(~failed).astype("Int64")``, built from the float buffer directly."""
    v = values.to_numpy(dtype="float64")
    keep = ~failed.to_numpy(dtype=bool) & ~np.isnan(v)
    if np.any(np.abs(v[keep]) >= 2.0**63):  # out of int64: let pandas say so as before
        return values.where(~failed).astype("Int64")
    data = np.where(keep, v, 0.0).astype(np.int64)
    return pd.Series(pd.arrays.IntegerArray(data, ~keep), index=values.index)


def answers(text: pd.Series, labels: dict[str, int]) -> tuple[pd.Series, pd.Series]:
    """Likert answers from numbers or labels (any case, extra spaces)."""
    values, _ = numbers(text)
    rest = text.notna() & values.isna()
    if rest.any() and labels:
        folded = collapse_spaces(text[rest]).str.casefold()
        values.loc[rest] = pd.to_numeric(folded.map(labels)).to_numpy(
            dtype="float64", na_value=np.nan
        )
    rest = text.notna() & values.isna()
    if rest.any() and labels:
        retried = text[rest].map(lambda t: _label_with_number(t, labels))
        values.loc[rest] = pd.to_numeric(retried).to_numpy(dtype="float64", na_value=np.nan)
    failed = text.notna() & (values.isna() | ~_integral(values))
    return _int64(values, failed), failed


def _label_with_number(text: str, labels: dict[str, int]) -> float:
    """'4 - Often' or 'Often (4)': accepted only when the number and the words agree."""
    folded = " ".join(text.split()).casefold()
    digits = re.findall(r"-?\d+", folded)
    words = " ".join(re.sub(r"[-0-9()=:.]+", " ", folded).split())
    if len(digits) == 1 and words in labels and labels[words] == int(digits[0]):
        return float(labels[words])
    return float("nan")


def dates(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ISO (2016-04-01) or UK day-first (01/04/2016); two-digit years are refused."""
    plain = pc.replace_substring_regex(_arrow(text), MIDNIGHT, "")
    iso = _checked_date(plain, r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$")
    uk = _checked_date(plain, r"^(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})$")
    parsed = pc.coalesce(iso, uk)
    values = pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index).astype(
        "datetime64[ns]"
    )
    failed = text.notna() & values.isna()
    return values, failed


def _checked_date(text: pa.Array | pa.ChunkedArray, pattern: str) -> pa.Array:
    """Dates matching ``pattern`` (named groups y, m, d) that exist in the calendar;
    null otherwise (Arrow would roll 31/02 over into March)."""
    parts = pc.extract_regex(text, pattern)
    year, month, day = (pc.cast(pc.struct_field(parts, k), pa.int64()) for k in ("y", "m", "d"))
    canonical = pc.binary_join_element_wise(
        pc.cast(year, pa.string()), pc.utf8_lpad(pc.cast(month, pa.string()), 2, "0"),
        pc.utf8_lpad(pc.cast(day, pa.string()), 2, "0"), "-")  # fmt: skip
    parsed = pc.strptime(canonical, format="%Y-%m-%d", unit="s", error_is_null=True)
    exists = pc.and_(pc.equal(pc.day(parsed), day), pc.equal(pc.month(parsed), month))
    return pc.if_else(pc.fill_null(exists, False), parsed, pa.scalar(None, pa.timestamp("s")))


def nhs_number_mask(text: pd.Series) -> pd.Series:
    """Cells holding an NHS number anywhere in them (or the mask of one removed).

    Arrow's regex engine picks the few cells worth a look in one vectorised pass; only
    those are checked digit by digit."""
    mask = pd.Series(False, index=text.index)
    arr = _arrow(text)
    if (pc.max(pc.binary_length(arr)).as_py() or 0) < 10:
        return mask  # no cell has ten characters (a character is at least one byte)
    hits = pc.or_(
        pc.match_substring_regex(arr, PREFILTER), pc.match_substring(arr, NHS_NUMBER_MASK)
    )
    hits = pd.Series(pc.fill_null(hits, False).to_numpy(zero_copy_only=False), index=text.index)
    if not hits.any():
        return mask
    candidates = text[hits]
    mask.loc[candidates.index] = candidates.map(
        lambda cell: NHS_NUMBER_MASK in cell or has_nhs_number(cell)
    ).astype(bool)
    return mask


def _shown(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = _cell_to_text(value)
    return None if text is None or str(text).strip() == "" else str(text).strip()
