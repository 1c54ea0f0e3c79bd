"""Readers: spreadsheet files to raw frames, one per contract table found.

A frame's index is the row number the user sees in their spreadsheet, so every
later problem can point at it. Cells are kept as read (text, numbers, dates);
``reval.ingest.cleaning`` turns them into typed values.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import pandas as pd

from reval.contract import TABLES, TableName, table_schema
from reval.ingest.problems import Problem

FileKind = Literal["xlsx", "ods", "csv"]
SPREADSHEET_SUFFIXES: Final[dict[str, FileKind]] = {".xlsx": "xlsx", ".ods": "ods", ".csv": "csv"}
HEADER_SEARCH_ROWS: Final[int] = 15
"""Title rows and blank rows above the header are skipped up to this depth."""
CSV_ENCODINGS: Final[tuple[str, ...]] = ("utf-8-sig", "cp1252", "latin-1")


@dataclass(frozen=True)
class SheetTable:
    """The raw cells of one contract table from one sheet of an upload."""

    file: str
    sheet: str | None
    table: TableName
    frame: pd.DataFrame
    header_row: int
    """Spreadsheet row number of the header (1-based)."""


@dataclass(frozen=True)
class ReadResult:
    tables: list[SheetTable]
    problems: list[Problem]
    """Sheets that could not be matched to a table, and other file-level problems."""


def column_key(name: object) -> str:
    """Header text folded to the contract's lower_snake_case ('SWEMWBS 3 ' -> 'swemwbs_3')."""
    text = str(name).strip().casefold()
    out = []
    for ch in text:
        out.append(ch if ch.isalnum() else "_")
    key = "".join(out)
    while "__" in key:
        key = key.replace("__", "_")
    return key.strip("_")


def file_kind(filename: str) -> FileKind | None:
    return SPREADSHEET_SUFFIXES.get(Path(filename).suffix.casefold())


def read_tables(path: Path, original_name: str | None = None) -> ReadResult:
    """Every contract table in a .xlsx, .ods or .csv file."""
    name = original_name or path.name
    kind = file_kind(name)
    if kind is None:
        problem = Problem(name, None, None, None, Path(name).suffix,
                          "is not a spreadsheet type reval reads; save the file as .xlsx, .ods or .csv",
                          "unreadable_file")  # fmt: skip
        return ReadResult([], [problem])
    if kind == "csv":
        sheets = {None: _read_csv_cells(path)}
    else:
        raw = pd.read_excel(path, sheet_name=None, header=None, engine="calamine", dtype=object)
        sheets = {str(sheet): cells for sheet, cells in raw.items()}
    tables: list[SheetTable] = []
    problems: list[Problem] = []
    for sheet, cells in sheets.items():
        if _is_blank(cells):
            continue
        found = _locate_table(cells, sheet, Path(name).stem)
        if found is None:
            if sheet is not None and sheet.casefold() in {
                "instructions",
                "read_me",
                "readme",
                "lists",
            }:
                continue
            problems.append(Problem(
                name, sheet, None, None, sheet,
                "could not tell which table this is; name the sheet after a table "
                f"({', '.join(TABLES)}) and keep the column headings from the template",
                "unknown_table"))  # fmt: skip
            continue
        table, header_index = found
        tables.append(SheetTable(name, sheet, table, _frame_below_header(cells, header_index),
                                 header_row=header_index + 1))  # fmt: skip
    return ReadResult(tables, problems)


def _read_csv_cells(path: Path) -> pd.DataFrame:
    data = path.read_bytes()
    for encoding in CSV_ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    sample = text[:20_000]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    width = max((len(r) for r in rows), default=0)
    # ragged rows (a title line above the header) are padded, never rejected by the parser
    return pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object)


def _is_blank(cells: pd.DataFrame) -> bool:
    return cells.empty or bool(cells.map(_blank).all().all())


def _blank(value: object) -> bool:
    return (
        value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == ""
    )


def _locate_table(
    cells: pd.DataFrame, sheet: str | None, stem: str
) -> tuple[TableName, int] | None:
    """The table (by sheet or file name, else by headings) and its header row index."""
    by_name = next((t for t in TABLES if column_key(sheet or stem) == t), None)
    best: tuple[int, TableName, int] | None = None
    for index in range(min(HEADER_SEARCH_ROWS, len(cells))):
        keys = {column_key(v) for v in cells.iloc[index] if not _blank(v)}
        if len(keys) < 2:
            continue
        candidates = [by_name] if by_name else list(TABLES)
        for table in candidates:
            names = set(table_schema(table).columns)
            hits = len(keys & names) + sum(
                1 for k in keys if k.startswith(("para_", "pre_", "post_")) and table in
                {"survey_responses", "comparison_records"})  # fmt: skip
            if hits >= 2 and (best is None or hits > best[0]):
                best = (hits, table, index)
        if best is not None and by_name:
            break
    if best is None:
        return None
    return best[1], best[2]


def _frame_below_header(cells: pd.DataFrame, header_index: int) -> pd.DataFrame:
    header = [column_key(v) if not _blank(v) else f"unnamed_{i + 1}"
              for i, v in enumerate(cells.iloc[header_index])]  # fmt: skip
    body = cells.iloc[header_index + 1 :].copy()
    body.columns = header
    body = body.loc[:, [c for c in header if not c.startswith("unnamed_")]]
    body.index = pd.RangeIndex(header_index + 2, header_index + 2 + len(body), name="row")
    keep = ~body.map(_blank).all(axis=1)
    return body.loc[keep]
