"""Writing spreadsheets people open in Excel or LibreOffice.

Files are byte-for-byte reproducible (fixed creation date; xlsxwriter stamps
zip entries with a fixed date), and text is always written as text: a value
such as ``=HYPERLINK(...)`` from an upload stays an inert string, never a
formula, a link or a number. Every cell goes through :func:`write_cell`.

Besides plain frames this writes the two workbooks a coordinator fills in: the
column rules a template shows as dropdowns and checks (:func:`add_validation`),
and the fix-up workbook of rejected rows (:func:`write_fix_up_workbook`): the
rows in the template's columns, typed as the template types them, each bad cell
highlighted with its message as a note, and a "how to use this" sheet.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import pandas as pd
import pandera.pandas as pa
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from reval.contract import (
    Contract,
    TableName,
    column_answer_scale,
    column_checks,
    default_contract,
)
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


def write_cell(sheet: Worksheet, row: int, col: int, value: Any, date_format: Any,
               cell_format: Any = None) -> None:  # fmt: skip
    """Write one value by its Python type; text is never interpreted. ``cell_format``
    (a highlight, say) applies to every kind of value; dates use ``date_format``."""
    if value is None or value is pd.NA or value is pd.NaT:
        if cell_format is not None:
            sheet.write_blank(row, col, None, cell_format)
        return
    if isinstance(value, float) and math.isnan(value):
        if cell_format is not None:
            sheet.write_blank(row, col, None, cell_format)
        return
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime | dt.date):
        sheet.write_datetime(row, col, value, date_format)
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value, cell_format)
    elif isinstance(value, int | float) or hasattr(value, "dtype"):
        number = float(value) if not isinstance(value, int) else value
        sheet.write_number(row, col, number, cell_format)
    else:
        sheet.write_string(row, col, inert(value, "cell"), cell_format)


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


# --- the column rules a template shows ---------------------------------------------------

LISTS_SHEET: Final[str] = "lists"
"""The hidden sheet holding every dropdown's choices."""
VALIDATED_ROWS: Final[int] = 2000
"""Rows below the header that carry dropdowns and checks."""


def dropdown_values(column: pa.Column) -> list[str] | None:
    """What the dropdown offers: labels for answer scales, else the allowed values."""
    scale = column_answer_scale(column)
    if scale is not None:
        return list(scale.labels) if scale.labels else [str(v) for v in scale.values]
    checks = column_checks(column)
    if "isin" in checks:
        return [str(v) for v in checks["isin"]["allowed_values"]]
    return None


def add_validation(data: Worksheet, lists: Worksheet, col: int, column: pa.Column,
                   choices: list[str] | None, list_col: int, *, first_row: int = 1,
                   last_row: int = VALIDATED_ROWS) -> None:  # fmt: skip
    """The column's rule as Excel data validation (rows ``first_row``..``last_row``,
    0-based): a dropdown for a closed list (its choices written to column ``list_col`` of
    the lists sheet), a date or a whole-number range otherwise."""
    first, last = first_row, last_row
    dtype = str(column.dtype)
    checks = column_checks(column)
    if choices:
        letter = xl_col_to_name(list_col)
        lists.write_string(0, list_col, "")
        for i, choice in enumerate(choices, start=1):
            write_cell(lists, i, list_col, choice, None)
        is_scale = column_answer_scale(column) is not None
        data.data_validation(first, col, last, col, {
            "validate": "list",
            "source": f"={LISTS_SHEET}!${letter}$2:${letter}${len(choices) + 1}",
            # answer scales accept the number too, so Excel warns rather than refuses
            "error_type": "warning" if is_scale else "stop",
            "error_title": "Not on the list",
            "error_message": ("Pick an answer from the list, or type its number."
                              if is_scale else "Pick a value from the list."),
            "input_title": (column.title or "")[:32],
            "input_message": (column.description or "")[:255],
        })  # fmt: skip
    elif dtype.startswith("datetime"):
        data.data_validation(first, col, last, col, {
            "validate": "date", "criteria": "between",
            "minimum": pd.Timestamp("2000-01-01").to_pydatetime(),
            "maximum": pd.Timestamp("2100-01-01").to_pydatetime(),
            "error_type": "stop", "error_message": "Type a date such as 01/04/2016.",
        })  # fmt: skip
    elif dtype in {"Int64", "int64"} and "in_range" in checks:
        stats = checks["in_range"]
        data.data_validation(first, col, last, col, {
            "validate": "integer", "criteria": "between",
            "minimum": int(stats["min_value"]), "maximum": int(stats["max_value"]),
            "error_type": "stop",
            "error_message": f"Type a whole number from {int(stats['min_value'])} to {int(stats['max_value'])}.",
        })  # fmt: skip


def schema_column(
    table: TableName, name: str, contract: Contract | None = None
) -> tuple[int, pa.Column] | None:
    """The contract column governing ``name`` and its place in the template's order, under
    the workspace's ``contract`` (default: the sample programme's)."""
    schema = (contract or default_contract()).schema(table)
    for position, (pattern, column) in enumerate(schema.columns.items()):
        if pattern == name or (column.regex and re.fullmatch(pattern, name)):
            return position, column
    return None


def typed_value(value: Any, column: pa.Column | None) -> Any:
    """A cell as the template types it: numbers as numbers (a CSV's '0' or '-1.0'
    becomes 0 or -1), dates as dates; anything that does not read as that type (the
    mistake being fixed) stays exactly as it was written, as text."""
    if value is None or column is None or (isinstance(value, float) and math.isnan(value)):
        return value
    dtype = str(column.dtype)
    text = str(value).strip()
    if dtype.startswith("datetime"):
        if isinstance(value, dt.date):
            return value
        iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]00:00(?::00(?:\.0+)?)?)?", text)
        uk = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
        try:
            if iso:
                return dt.datetime(int(iso[1]), int(iso[2]), int(iso[3]))
            if uk:
                return dt.datetime(int(uk[3]), int(uk[2]), int(uk[1]))
        except ValueError:
            return value  # 31/02/2017 stays as written: it is the mistake
        return value
    if dtype in {"Int64", "int64"} or dtype.startswith("float"):
        if isinstance(value, bool):
            return value
        try:
            number = float(text) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            return value
        if not math.isfinite(number):
            return value
        return int(number) if number.is_integer() and dtype in {"Int64", "int64"} else number
    return value


# --- the fix-up workbook -------------------------------------------------------------------

PROBLEMS_COLUMN: Final[str] = "problems"
HOW_TO_SHEET: Final[str] = "how to use this"


@dataclass
class FixUpSheet:
    """Rejected rows of one sheet of an upload, as the site sent them."""

    table: TableName
    name: str
    """Sheet name in the fix-up workbook (the upload's sheet, or the table for a CSV)."""
    rows: list[dict[str, Any]]
    """Cells by column key, one dict per rejected row, in the upload's order."""
    problems: list[list[dict[str, Any]]]
    """Per row, its problems: column, value, expected, reason, old row number."""
    source_rows: list[int] = field(default_factory=list)


def write_fix_up_workbook(target: Path | IO[bytes], sheets: list[FixUpSheet], *,
                          source_name: str, contract: Contract | None = None) -> None:  # fmt: skip
    """The rows to fix as a workbook a person can use: a 'how to use this' sheet, then a
    sheet per table with the problems column first (wrapped), the template's columns,
    dropdowns and number formats (the workspace's ``contract``: its categories and
    instruments), values typed as the template types them, and each bad cell highlighted
    with its message as a note. Messages name cells of this workbook."""
    workbook = open_workbook(target, title=f"Rows to fix from {source_name}")
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    problems_format = workbook.add_format(
        {"text_wrap": True, "valign": "top", "font_color": "#9C0006"}
    )
    bad = {"bg_color": "#FFC7CE", "border": 1, "border_color": "#9C0006"}
    date_format = workbook.add_format({"num_format": DATE_FORMAT})
    bad_text = workbook.add_format(bad)
    bad_date = workbook.add_format({**bad, "num_format": DATE_FORMAT})
    _how_to_sheet(workbook, sheets, source_name, wrap)
    pages = [workbook.add_worksheet(fix.name[:31]) for fix in sheets]
    lists = workbook.add_worksheet(LISTS_SHEET)  # after the data sheets: the last tab, hidden
    list_col = 0
    for fix, data in zip(sheets, pages, strict=True):
        columns = _fix_up_columns(fix, contract)
        specs = {name: found[1] if (found := schema_column(fix.table, name, contract)) else None
                 for name in columns}  # fmt: skip
        letters = {name: xl_col_to_name(i + 1) for i, name in enumerate(columns)}
        new_rows = {old: new for new, old in enumerate(fix.source_rows, start=2)}
        data.write_string(0, 0, PROBLEMS_COLUMN, header)
        data.set_column(0, 0, 60, wrap)
        for col, name in enumerate(columns, start=1):
            data.write_string(0, col, inert(name, "cell"), header)
            width = max(12, min(len(name) + 2, 40))
            spec = specs[name]
            is_date = spec is not None and str(spec.dtype).startswith("datetime")
            data.set_column(col, col, width, date_format if is_date else None)
            if spec is not None:
                choices = dropdown_values(spec)
                add_validation(data, lists, col, spec, choices, list_col,
                               last_row=max(VALIDATED_ROWS, len(fix.rows) + 1))  # fmt: skip
                list_col += bool(choices)
        for r, (cells, problems) in enumerate(zip(fix.rows, fix.problems, strict=True), start=1):
            flagged: dict[str, list[str]] = {}
            lines = []
            for p in problems:
                column = _first_column(p.get("column"), columns)
                message = _fix_up_message(p, fix.name, r + 1, column, letters, new_rows)
                lines.append(message)
                if column is not None:
                    flagged.setdefault(column, []).append(message)
            write_cell(data, r, 0, "\n".join(lines), None, problems_format)
            for col, name in enumerate(columns, start=1):
                value = typed_value(_python_scalar(cells.get(name)), specs[name])
                if name in flagged:
                    write_cell(data, r, col, value, bad_date, bad_text)
                    data.write_comment(r, col, inert("\n".join(flagged[name]), "cell"),
                                       {"x_scale": 3, "y_scale": 2, "author": "reval"})  # fmt: skip
                else:
                    write_cell(data, r, col, value, date_format)
        data.freeze_panes(1, 1)
        data.autofilter(0, 0, max(1, len(fix.rows)), len(columns))
    lists.hide()
    if pages:
        pages[0].activate()
    workbook.close()


def _fix_up_columns(fix: FixUpSheet, contract: Contract | None) -> list[str]:
    """The upload's columns in the template's order (unknown ones after), plus any
    required column the upload lacked, so there is a place to fill it in."""
    seen = list(dict.fromkeys(c for row in fix.rows for c in row))
    missing = [str(p["column"]) for row in fix.problems for p in row
               if p.get("reason") == "missing_column" and p.get("column")]  # fmt: skip
    names = list(dict.fromkeys([*seen, *missing]))

    def order(item: tuple[int, str]) -> tuple[int, int]:
        found = schema_column(fix.table, item[1], contract)
        return (found[0] if found else 10_000, item[0])

    return [name for _, name in sorted(enumerate(names), key=order)]


def _first_column(column: object, columns: list[str]) -> str | None:
    first = str(column or "").split(",")[0].strip()
    return first if first in columns else None


def _fix_up_message(p: Mapping[str, Any], sheet: str, row: int, column: str | None,
                    letters: Mapping[str, str], new_rows: Mapping[int, int]) -> str:  # fmt: skip
    """The problem said again for where it now is: this workbook's sheet, cell and rows."""
    from reval.ingest.problems import Problem  # the message's one shape, not a second copy

    expected = re.sub(r"\(also row ([\d, ]+)\)",
                      lambda m: _also_rows(m[1], new_rows), str(p.get("expected") or ""))  # fmt: skip
    if not expected:  # a record from before problems kept their parts
        return str(p.get("message") or "")
    cell = f"{letters[column]}{row}" if column else None
    heading = p.get("column") if column and "," in str(p.get("column")) else column
    return Problem("", sheet, row, column or p.get("column"), p.get("value"), expected,
                   p.get("reason", "rule_broken"), cell=cell, heading=heading).message()  # fmt: skip


def _also_rows(listed: str, new_rows: Mapping[int, int]) -> str:
    olds = [int(r) for r in re.findall(r"\d+", listed)]
    here = [str(new_rows[r]) for r in olds if r in new_rows]
    gone = len(olds) - len(here)
    parts = []
    if here:
        parts.append(f"also row {', '.join(here)} here")
    if gone:
        parts.append(
            "also a row that was loaded" if gone == 1 else f"also {gone} rows that were loaded"
        )
    return "(" + "; ".join(parts) + ")"


def _how_to_sheet(workbook: xlsxwriter.Workbook, sheets: list[FixUpSheet], source_name: str,
                  wrap: Any) -> None:  # fmt: skip
    guide = workbook.add_worksheet(HOW_TO_SHEET)
    heading = workbook.add_format({"bold": True, "font_size": 14})
    guide.set_column(0, 0, 100, wrap)
    count = sum(len(s.rows) for s in sheets)
    lines = [
        f"These are the {count} row{'s' if count != 1 else ''} from {source_name} that were not "
        "loaded. The rows that were right are already loaded: do not send them again.",
        "1. Go to each sheet. The 'problems' column (first, in red) says what is wrong in that "
        "row. Each cell to change is coloured red; point at it (or click it) to read its note.",
        "2. Change each red cell as its note says. Where a cell has a dropdown, pick from it.",
        "3. Where a note says to keep one of two rows, delete the row you do not want.",
        "4. Save this file as it is (.xlsx) and upload it on the portal. The 'problems' column "
        "and this sheet are ignored when it is read, so you do not need to delete them.",
    ]
    guide.write_string(0, 0, f"How to use this: rows to fix from {source_name}", heading)
    for row, line in enumerate(lines, start=2):
        write_cell(guide, row, 0, line, wrap)
