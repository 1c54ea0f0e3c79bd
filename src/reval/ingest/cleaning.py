"""Cell cleaning: raw spreadsheet cells to the contract's types, or a problem.

Hand-made spreadsheets hold numbers stored as text, Likert answers as words
with stray capitals and spaces, dates typed three ways. Each cell either
becomes a clean value or yields a :class:`Problem` (and is left blank so
validation does not report it twice). Nothing is guessed: a date that could be
read two ways is a problem, not a coin toss.

Personal identifiers are caught here, before anything is stored: a value that
looks like an NHS number (ten digits passing the modulus-11 check) is a cell
problem, and the cell is masked in every copy reval keeps.

Work is column-at-a-time (vectorised) so a million-row upload cleans in seconds;
only cells that fail the fast path are looked at one by one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from reval.contract import column_answer_scale, schema_column_for
from reval.ingest.problems import Problem, ReasonCode
from reval.ingest.readers import SheetTable

NHS_NUMBER_MASK: Final[str] = "[NHS number removed]"
NHS_CANDIDATE: Final = re.compile(r"^\d{3}[ -]?\d{3}[ -]?\d{4}$")
UK_DATE: Final = r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{4}$"
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


def clean_table(sheet: SheetTable) -> CleanedTable:
    """Typed cells for one sheet, and a problem for every cell that could not be read."""
    frame: dict[str, pd.Series] = {}
    problems: list[Problem] = []
    source = sheet.frame
    texts = {name: cell_text(source[name]) for name in source.columns}

    masked = False
    for name, text in texts.items():
        nhs = nhs_number_mask(text)
        if nhs.any():
            if not masked:
                source = source.copy()
                masked = True
            source[name] = source[name].astype(object).where(~nhs, NHS_NUMBER_MASK)
            texts[name] = text.where(~nhs, None)
            problems.extend(
                _cell_problems(sheet, name, nhs, None, NHS_EXPECTED, "personal_identifier")
            )
            problems[-int(nhs.sum()) :] = [
                _with_value(p, NHS_NUMBER_MASK) for p in problems[-int(nhs.sum()) :]
            ]

    for name, text in texts.items():
        column = schema_column_for(sheet.table, name)
        if column is None:
            frame[name] = text.astype(
                object
            )  # unknown columns pass through for validation to judge
            continue
        dtype = str(column.dtype)
        scale = column_answer_scale(column)
        if scale is not None:
            values, failed = answers(text, scale.label_to_value())
            expected, reason = (
                f"is not an answer on this scale; use {scale.describe()}",
                "not_on_scale",
            )
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
            frame[name] = collapse_spaces(text)
            continue
        problems.extend(_cell_problems(sheet, name, failed, source[name], expected, reason))
        frame[name] = values.where(~failed)
    cleaned = pd.DataFrame(frame, index=sheet.frame.index)
    return CleanedTable(sheet, cleaned, source, problems)


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
    if pd.api.types.is_string_dtype(raw.dtype) and raw.dtype != object:
        text = raw.str.strip()
    else:
        text = raw.map(_cell_to_text, na_action="ignore").astype("str")
        text = text.str.strip()
    return text.where(text.notna() & (text != ""), None)


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


def collapse_spaces(text: pd.Series) -> pd.Series:
    return text.str.replace(r"\s+", " ", regex=True).astype(object).where(text.notna(), None)


def numbers(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Floats, and where the text was not a number."""
    values = pd.to_numeric(text, errors="coerce").astype("float64")
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
    fractional = values.notna() & (values % 1 != 0)
    failed = failed | fractional
    return values.where(~failed).astype("Int64"), failed


def answers(text: pd.Series, labels: dict[str, int]) -> tuple[pd.Series, pd.Series]:
    """Likert answers from numbers or labels (any case, extra spaces)."""
    values = pd.Series(np.nan, index=text.index, dtype="float64")
    if labels:
        folded = collapse_spaces(text).str.casefold()
        values = folded.map(labels).astype("float64")
    rest = text.notna() & values.isna()
    if rest.any():
        numeric, _ = numbers(text[rest])
        values.loc[rest] = numeric
    rest = text.notna() & values.isna()
    if rest.any() and labels:
        values.loc[rest] = text[rest].map(lambda t: _label_with_number(t, labels))
    failed = text.notna() & (values.isna() | (values % 1 != 0))
    return values.where(~failed).astype("Int64"), failed


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
    plain = text.str.replace(MIDNIGHT, "", regex=True)
    values = pd.to_datetime(plain, format="%Y-%m-%d", errors="coerce")
    rest = plain.notna() & values.isna()
    if rest.any():
        candidates = plain[rest]
        uk = candidates[candidates.str.match(UK_DATE)].str.replace(r"[.-]", "/", regex=True)
        values.loc[uk.index] = pd.to_datetime(uk, format="%d/%m/%Y", errors="coerce")
    failed = text.notna() & values.isna()
    return values.astype("datetime64[ns]"), failed


def nhs_number_mask(text: pd.Series) -> pd.Series:
    """Cells holding a valid NHS number (10 digits, modulus-11 check digit)."""
    mask = pd.Series(False, index=text.index)
    long_enough = text.notna() & (text.str.len() >= 10) & (text.str.len() <= 12)
    if not long_enough.any():
        return mask
    candidates = text[long_enough]
    candidates = candidates[candidates.str.match(NHS_CANDIDATE.pattern)]
    if candidates.empty:
        return mask
    digits = candidates.str.replace(r"\D", "", regex=True)
    mask.loc[digits.index] = digits.map(is_nhs_number).astype(bool)
    return mask


def is_nhs_number(digits: str) -> bool:
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9]))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _shown(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = _cell_to_text(value)
    return None if text is None or str(text).strip() == "" else str(text).strip()
