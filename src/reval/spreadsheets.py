"""Writing spreadsheets people open in Excel or LibreOffice.

Files are byte-for-byte reproducible (fixed creation date; xlsxwriter stamps
zip entries with a fixed date), and text is always written as text: a value
such as ``=HYPERLINK(...)`` from an upload stays an inert string, never a
formula, a link or a number.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from reval.inert import inert

FIXED_CREATED = dt.datetime(2016, 1, 1, 0, 0, 0)
DATE_FORMAT = "dd/mm/yyyy"

WORKBOOK_OPTIONS: dict[str, Any] = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "nan_inf_to_errors": False,
    "in_memory": True,
}


def open_workbook(target: Path | IO[bytes], *, title: str) -> xlsxwriter.Workbook:
    workbook = xlsxwriter.Workbook(target, WORKBOOK_OPTIONS)
    workbook.set_properties({"title": title, "author": "reval", "created": FIXED_CREATED})
    return workbook


def write_cell(sheet: Worksheet, row: int, col: int, value: Any, date_format: Any) -> None:
    """Write one value by its Python type; text is never interpreted."""
    if value is None or value is pd.NA or value is pd.NaT:
        return
    if isinstance(value, float) and math.isnan(value):
        return
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime | dt.date):
        sheet.write_datetime(row, col, value, date_format)
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, int | float) or hasattr(value, "dtype"):
        sheet.write_number(row, col, float(value) if not isinstance(value, int) else value)
    else:
        sheet.write_string(row, col, inert(value, "cell"))


def write_frame(workbook: xlsxwriter.Workbook, name: str, frame: pd.DataFrame) -> Worksheet:
    """A sheet with a bold frozen header row and one column per frame column."""
    sheet = workbook.add_worksheet(name)
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    date_format = workbook.add_format({"num_format": DATE_FORMAT})
    for col, column in enumerate(frame.columns):
        sheet.write_string(0, col, inert(column, "cell"), header)
        width = max(len(str(column)), *(len(str(v)) for v in frame[column].head(50).tolist()), 8)
        sheet.set_column(col, col, min(width + 2, 60))
    for row, values in enumerate(frame.itertuples(index=False, name=None), start=1):
        for col, value in enumerate(values):
            write_cell(sheet, row, col, _python_scalar(value), date_format)
    sheet.freeze_panes(1, 0)
    return sheet


def write_workbook(
    target: Path | IO[bytes], sheets: Mapping[str, pd.DataFrame], *, title: str
) -> None:
    workbook = open_workbook(target, title=title)
    for name, frame in sheets.items():
        write_frame(workbook, name, frame)
    workbook.close()


def _python_scalar(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    return value
