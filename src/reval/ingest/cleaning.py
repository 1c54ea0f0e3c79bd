"""Cell cleaning: raw spreadsheet cells to the contract's types, or a problem.

Hand-made spreadsheets hold numbers stored as text, Likert answers as words
with stray capitals and spaces, dates typed three ways. Each cell either
becomes a clean value or yields a :class:`Problem` (and is left blank so
validation does not report it twice). Nothing is guessed: a date that could be
read two ways is a problem, not a coin toss.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from reval.contract import column_answer_scale, schema_column_for
from reval.ingest.problems import Problem
from reval.ingest.readers import SheetTable

ISO_DATE: Final = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]00:00(?::00)?)?$")
UK_DATE: Final = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})$")
NUMBER: Final = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
DATE_EXPECTED: Final = (
    "is not a date reval can read; write it as 2016-04-01 or 01/04/2016 (day first)"
)


@dataclass(frozen=True)
class CleanedTable:
    sheet: SheetTable
    frame: pd.DataFrame
    problems: list[Problem]


def clean_table(sheet: SheetTable) -> CleanedTable:
    """Typed cells for one sheet, and a problem for every cell that could not be read."""
    frame = pd.DataFrame(index=sheet.frame.index)
    problems: list[Problem] = []
    for name in sheet.frame.columns:
        column = schema_column_for(sheet.table, name)
        raw = sheet.frame[name]
        if column is None:
            frame[name] = raw.map(_text)  # unknown columns pass through for validation to judge
            continue
        dtype = str(column.dtype)
        scale = column_answer_scale(column)
        if scale is not None:
            parsed = raw.map(lambda v, s=scale: _answer(v, s.label_to_value()))
            expected = f"is not an answer on this scale; use {scale.describe()}"
        elif dtype.startswith("datetime"):
            parsed = raw.map(_date)
            expected = DATE_EXPECTED
        elif dtype in {"Int64", "int64"}:
            parsed = raw.map(_whole_number)
            expected = "is not a whole number; write digits only, like 3"
        elif dtype.startswith("float"):
            parsed = raw.map(_number)
            expected = "is not a number; write digits only, like 2.5 (no units or £ signs)"
        else:
            frame[name] = raw.map(_text)
            continue
        failed = parsed.map(lambda v: v is _UNREADABLE)
        for row in parsed.index[failed]:
            problems.append(Problem(sheet.file, sheet.sheet, int(row), name,
                                    _shown(raw.loc[row]), expected,
                                    "not_on_scale" if scale is not None else
                                    ("bad_format" if dtype.startswith("datetime") else "wrong_type")))  # fmt: skip
        frame[name] = parsed.where(~failed, None).astype(object)
    return CleanedTable(sheet, frame, problems)


class _Unreadable:
    def __repr__(self) -> str:
        return "<unreadable>"


_UNREADABLE: Final = _Unreadable()


def _blank(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and pd.isna(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _text(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 12.0 typed as a code such as an ID reads back as '12'
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10] if not isinstance(value, dt.datetime) else value.isoformat()
    return " ".join(str(value).split())


def _shown(value: Any) -> str | None:
    return None if _blank(value) else str(value).strip()


def _number(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return _UNREADABLE
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")  # decimal comma
    elif "," in text:
        text = text.replace(",", "")  # thousands separators
    if not NUMBER.match(text.replace(",", ".")):
        return _UNREADABLE
    return float(text)


def _whole_number(value: Any) -> Any:
    number = _number(value)
    if number is None or number is _UNREADABLE:
        return number
    return int(number) if float(number).is_integer() else _UNREADABLE


def _answer(value: Any, labels: dict[str, int]) -> Any:
    if _blank(value):
        return None
    if isinstance(value, str):
        folded = " ".join(value.split()).casefold()
        if folded in labels:
            return labels[folded]
        # '4 - Often' or 'Often (4)': accept when the number and the word agree
        number_part = re.sub(r"[^0-9-]+", " ", folded).split()
        word_part = re.sub(r"[0-9()=:\-]+", " ", folded).strip()
        word_part = " ".join(word_part.split())
        if len(number_part) == 1 and word_part in labels:
            try:
                if labels[word_part] == int(number_part[0]):
                    return labels[word_part]
            except ValueError:
                return _UNREADABLE
    return _whole_number(value)


def _date(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    text = str(value).strip()
    match = ISO_DATE.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
        return _safe_date(year, month, day)
    match = UK_DATE.match(text)
    if match:
        day, month, year_text = match.groups()
        if len(year_text) == 2:
            return _UNREADABLE  # '03/04/16' could be 1916 or 2016: ask, do not guess
        return _safe_date(int(year_text), int(month), int(day))
    return _UNREADABLE


def _safe_date(year: int, month: int, day: int) -> Any:
    try:
        return dt.datetime(year, month, day)
    except ValueError:
        return _UNREADABLE
