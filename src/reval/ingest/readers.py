"""Readers: spreadsheet files to raw frames, one per contract table found.

A frame's index is the row number the user sees in their spreadsheet, so every
later problem can point at it. Cells are kept as read (text, numbers, dates);
``reval.ingest.cleaning`` turns them into typed values.
"""

from __future__ import annotations

import codecs
import csv
import io
import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from reval.contract import TABLES, TableName, table_schema
from reval.identifiers import mask_name
from reval.ingest.problems import Problem

FileKind = Literal["xlsx", "ods", "csv"]
SPREADSHEET_SUFFIXES: Final[dict[str, FileKind]] = {".xlsx": "xlsx", ".ods": "ods", ".csv": "csv"}
HEADER_SEARCH_ROWS: Final[int] = 15
"""Title rows and blank rows above the header are skipped up to this depth."""
CSV_ENCODINGS: Final[tuple[str, ...]] = ("utf-8-sig", "cp1252", "latin-1")
MAX_CELL_CHARS: Final[int] = 32_767
"""Excel's own limit on one cell; ``Settings.max_cell_chars`` is what an ingest uses."""
MAX_CELL_PROBLEMS: Final[int] = 100
"""Oversized cells named one by one before the rest are counted."""


@dataclass(frozen=True)
class SheetTable:
    """The raw cells of one contract table from one sheet of an upload."""

    file: str
    sheet: str | None
    table: TableName
    frame: pd.DataFrame
    header_row: int
    """Spreadsheet row number of the header (1-based)."""
    headings: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Column key -> (0-based position in the sheet, heading as written): where a
    problem's cell is, as Excel shows it (``D14``)."""


@dataclass(frozen=True)
class ReadResult:
    tables: list[SheetTable]
    problems: list[Problem]
    """Sheets that could not be matched to a table, and other file-level problems."""


def column_key(name: object) -> str:
    """Header text folded to the contract's lower_snake_case ('SWEMWBS 3 ' -> 'swemwbs_3'),
    any NHS number in it masked (headings are shown and stored like cells)."""
    text = mask_name(str(name)).strip().casefold()
    out = []
    for ch in text:
        out.append(ch if ch.isalnum() else "_")
    key = "".join(out)
    while "__" in key:
        key = key.replace("__", "_")
    return key.strip("_")


def file_kind(filename: str) -> FileKind | None:
    return SPREADSHEET_SUFFIXES.get(Path(filename).suffix.casefold())


def read_tables(
    path: Path, original_name: str | None = None, *, max_cell_chars: int = MAX_CELL_CHARS
) -> ReadResult:
    """Every contract table in a .xlsx, .ods or .csv file.

    Whatever the parsers raise on the uploaded bytes (a damaged zip, XML that does not
    match its declared size, bytes that are not text, a malformed CSV) comes back as one
    file-level ``unreadable_file`` problem, and cells longer than ``max_cell_chars`` as
    ``too_long`` problems naming each cell: a bad file is refused, never a crash that
    stops the files behind it.
    """
    name = original_name or path.name
    kind = file_kind(name)
    if kind is None:
        problem = Problem(name, None, None, None, Path(name).suffix,
                          "is not a spreadsheet type reval reads; save the file as .xlsx, .ods or .csv",
                          "not_a_spreadsheet")  # fmt: skip
        return ReadResult([], [problem])
    try:
        result = _read_csv(path, name) if kind == "csv" else _read_workbook(path, name)
    except UnreadableFileError as error:
        return ReadResult([], [error.problem])
    except MemoryError:
        raise
    except Exception as error:  # any parser failure on uploaded bytes is the file's
        return ReadResult([], [unreadable_problem(name, error)])
    if kind == "csv" and path.stat().st_size <= max_cell_chars:
        return result  # no cell can be longer than the whole file
    oversized = [p for table in result.tables for p in oversized_cells(table, max_cell_chars)]
    if oversized:
        return ReadResult([], _capped(oversized, name, max_cell_chars))
    return result


class UnreadableFileError(Exception):
    """Raised inside the readers with the problem to report for the whole file."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message())
        self.problem = problem


UNREADABLE_WORKBOOK: Final[str] = (
    "is damaged or was not fully uploaded, so reval cannot read it; open it in Excel or "
    "LibreOffice to check it, save a fresh copy and upload that"
)
UNREADABLE_TEXT: Final[str] = (
    "has bytes that are not text in the same encoding as the rest of the file (it may be "
    "damaged, or parts were pasted from another program); open it in Excel or a text editor, "
    "check that line, save it as 'CSV UTF-8 (Comma delimited)' and upload that"
)
UNREADABLE_CSV: Final[str] = (
    "is not a well-formed CSV file from that line on (a stray quote or line break), so reval "
    "cannot read it; open it in Excel, save it again as 'CSV UTF-8 (Comma delimited)' and "
    "upload that"
)
BINARY_STRETCH: Final[str] = (
    "holds a stretch of data that is not text, so the file is damaged or is not really a CSV "
    "file; open it in Excel or a text editor to check it, save a fresh copy as 'CSV UTF-8 "
    "(Comma delimited)' and upload that"
)


def unreadable_problem(name: str, error: BaseException) -> Problem:
    """A parser's exception said as one plain file-level problem (no traceback, no jargon)."""
    if isinstance(error, UnicodeDecodeError):
        line = error.object[: error.start].count(b"\n") + 1
        return Problem(name, None, None, None, f"line {line:,}", UNREADABLE_TEXT,
                       "unreadable_file")  # fmt: skip
    return Problem(name, None, None, None, None, UNREADABLE_WORKBOOK, "unreadable_file")


def oversized_cells(table: SheetTable, max_cell_chars: int) -> list[Problem]:
    """A problem per cell longer than ``max_cell_chars`` characters (file, sheet, row,
    column and its length; never the text itself)."""
    problems = []
    for column in table.frame.columns:
        lengths = _cell_lengths(table.frame[column], max_cell_chars)
        if lengths is None:
            continue
        for row, length in lengths.items():
            problems.append(Problem(
                table.file, table.sheet, int(row), str(column), f"{int(length):,} characters",
                f"is longer than the {max_cell_chars:,} characters reval accepts in one cell; "
                "shorten it (or split it over several rows) and upload the file again",
                "too_long"))  # fmt: skip
    return problems


def _cell_lengths(values: pd.Series, limit: int) -> pd.Series | None:
    """Lengths of the cells over ``limit`` characters (None when there are none)."""
    if isinstance(values.dtype, pd.ArrowDtype) and (
        pa.types.is_string(values.dtype.pyarrow_dtype)
        or pa.types.is_large_string(values.dtype.pyarrow_dtype)
    ):
        arr = values.array._pa_array
        if (pc.max(pc.binary_length(arr)).as_py() or 0) <= limit:
            return None  # a character is at least one byte
        lengths = pd.Series(pc.utf8_length(arr).to_numpy(zero_copy_only=False), index=values.index)
    else:
        lengths = values.map(lambda v: len(v) if isinstance(v, str) else 0)
    over = lengths[lengths > limit]
    return over if len(over) else None


def _capped(problems: list[Problem], name: str, max_cell_chars: int) -> list[Problem]:
    if len(problems) <= MAX_CELL_PROBLEMS:
        return problems
    rest = len(problems) - MAX_CELL_PROBLEMS
    more = Problem(name, None, None, None, f"{rest:,} more cells",
                   f"are also longer than the {max_cell_chars:,} characters reval accepts in one "
                   "cell", "too_long")  # fmt: skip
    return [*problems[:MAX_CELL_PROBLEMS], more]


def _read_workbook(path: Path, name: str) -> ReadResult:
    raw = pd.read_excel(path, sheet_name=None, header=None, engine="calamine", dtype=object)
    tables: list[SheetTable] = []
    problems: list[Problem] = []
    for sheet, cells in raw.items():
        sheet = mask_name(str(sheet))  # sheet names are shown and stored
        if _is_blank(cells):
            continue
        found = _locate_table([list(r) for r in cells.head(HEADER_SEARCH_ROWS).itertuples(index=False)],
                              sheet, Path(name).stem)  # fmt: skip
        if found is None:
            if sheet.casefold() not in IGNORED_SHEETS:
                problems.append(_unknown_table(name, sheet))
            continue
        table, header_index = found
        tables.append(SheetTable(name, sheet, table, _frame_below_header(cells, header_index),
                                 header_row=header_index + 1,
                                 headings=headings_of(list(cells.iloc[header_index]))))  # fmt: skip
    return ReadResult(tables, problems)


IGNORED_SHEETS: Final[frozenset[str]] = frozenset(
    {"instructions", "read_me", "readme", "lists", "how to use this"}
)


def _unknown_table(name: str, sheet: str | None) -> Problem:
    return Problem(name, sheet, None, None, sheet,
                   "is a sheet reval could not match to a table; name the sheet (or the file) after a table "
                   f"({', '.join(TABLES)}) and keep the column headings from the template",
                   "unknown_table")  # fmt: skip


HEAD_BYTES: Final[int] = 256 * 1024
CSV_BLOCK_BYTES: Final[int] = 16 * 1024 * 1024
"""Arrow parses in blocks this size (one chunk each); 1 MB blocks made every later step
loop over hundreds of chunks per column on a large upload."""


def _decode_head(head: bytes) -> tuple[str, str]:
    """The first bytes as text, and the encoding that reads them."""
    for encoding in CSV_ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            return decoder.decode(head, final=False), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _read_csv(path: Path, name: str) -> ReadResult:
    """CSV in any common encoding and delimiter, title rows above the header skipped.

    Only the head is decoded in Python (to find the delimiter and the header); the
    body goes through Arrow's multi-threaded parser straight from the file. Ragged
    rows, repeated headings or blank lines between records fall back to the csv
    module so every row number stays as the user sees it.
    """
    size = path.stat().st_size
    # a cell may be as long as the file: the csv module must never stop at its own limit
    # (131,072 characters) without saying where; cells over the configured size are named
    csv.field_size_limit(max(csv.field_size_limit(), size + 1, HEAD_BYTES + 1))
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    text, encoding = _decode_head(head)
    binary_at = binary_stretch(path)
    if binary_at is not None:
        raise UnreadableFileError(Problem(name, None, None, None, f"line {binary_at:,}",
                                          BINARY_STRETCH, "unreadable_file"))  # fmt: skip
    text = text.removeprefix("\ufeff")
    head_lines = text.splitlines()[:HEADER_SEARCH_ROWS]
    try:
        delimiter = csv.Sniffer().sniff("\n".join(head_lines), delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    head_rows = list(csv.reader(head_lines, delimiter=delimiter))
    found = _locate_table(head_rows, None, Path(name).stem)
    if found is None:
        return ReadResult([], [] if not text.strip() else [_unknown_table(name, None)])
    table, header_index = found
    header = [str(c) for c in head_rows[header_index]]
    frame = None
    if not _blank_line_between_records(path, head, header_index):
        frame = _arrow_csv(path, encoding, header_index, delimiter, header)
    if frame is None:
        data = path.read_bytes().decode(encoding).removeprefix("\ufeff")
        reader = csv.reader(io.StringIO(data), delimiter=delimiter)
        try:
            rows = list(reader)
        except csv.Error as error:
            raise UnreadableFileError(Problem(name, None, None, None, f"line {reader.line_num:,}",
                                              UNREADABLE_CSV, "unreadable_file")) from error  # fmt: skip
        width = max((len(r) for r in rows), default=0)
        # ragged rows are padded, never dropped by the parser
        cells = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object)
        frame = _frame_below_header(cells, header_index)
    return ReadResult([SheetTable(name, None, table, frame, header_row=header_index + 1,
                                  headings=headings_of(header))], [])  # fmt: skip


def headings_of(header: list[object]) -> dict[str, tuple[int, str]]:
    """Column key -> (position, heading as written); the first of a repeated heading."""
    out: dict[str, tuple[int, str]] = {}
    for position, value in enumerate(header):
        if not _blank(value):
            out.setdefault(column_key(value), (position, " ".join(str(value).split())))
    return out


def _blank_line_between_records(path: Path, head: bytes, header_index: int) -> bool:
    """A blank line followed by more data (Arrow would skip it and renumber what follows)."""
    start = 0
    for _ in range(header_index + 1):
        start = head.find(b"\n", start) + 1
        if start == 0:
            return False
    size = path.stat().st_size
    if size <= start:
        return False
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        end = size
        while end > start and data[end - 1 : end] in (b"\n", b"\r", b" ", b"\t", b"\x00"):
            end -= 1
        return has_blank_line(data, start, end)


TEXT_CONTROL_BYTES: Final[bytes] = b"\t\n\r\f\v\x1a"
"""Control characters real text files contain (\\x1a: old DOS end-of-file mark)."""
BINARY_BLOCK_BYTES: Final[int] = 64 * 1024
MAX_CONTROL_SHARE: Final[float] = 0.05
"""Share of control bytes in one block above which that block is not text."""
_CONTROL: Final = np.zeros(256, dtype=bool)
_CONTROL[[b for b in range(32) if b not in TEXT_CONTROL_BYTES]] = True


def binary_stretch(path: Path) -> int | None:
    """The line on which a stretch of binary data starts (a NUL byte, or a 64 KiB block
    more than 5% control bytes), or None for a text file. One vectorised pass: the file
    guard judges only the head, so a file damaged further in is caught here."""
    if path.stat().st_size == 0:
        return None
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _first_binary_line(data)


def _first_binary_line(data: mmap.mmap, window: int = 1 << 25) -> int | None:
    view = np.frombuffer(data, dtype=np.uint8)
    for lo in range(0, len(view), window):
        part = view[lo : lo + window]
        # counting first (a table lookup of every byte costs ten times as much): only a
        # window with control bytes other than line ends and tabs is looked at closely
        plain = sum(int(np.count_nonzero(part == b)) for b in (9, 10, 13))
        if int(np.count_nonzero(part < 32)) == plain:
            continue
        flags = _CONTROL[part]
        starts = np.arange(0, len(part), BINARY_BLOCK_BYTES)
        counts = np.add.reduceat(flags, starts, dtype=np.int64)
        sizes = np.diff(np.append(starts, len(part)))
        dense = np.flatnonzero(counts > MAX_CONTROL_SHARE * np.maximum(sizes, 1024))
        nul = np.flatnonzero(part == 0)
        found = [int(nul[0])] if len(nul) else []
        if len(dense):
            block = int(starts[dense[0]])
            found.append(block + int(np.flatnonzero(flags[block:])[0]))
        if found:
            return int(np.count_nonzero(view[: lo + min(found)] == 10)) + 1
    return None


def has_blank_line(data: bytes | mmap.mmap, start: int, end: int, window: int = 1 << 25) -> bool:
    """``b"\\n\\n"`` or ``b"\\n\\r\\n"`` within ``data[start:end]``: one vectorised pass over
    the newlines (two ``find`` scans of a large file took twice as long)."""
    view = np.frombuffer(data, dtype=np.uint8)
    for lo in range(start, end, window):
        part = view[lo : min(end, lo + window + 2)]  # 2 bytes overlap: no match is split
        newlines = np.flatnonzero(part == 10)
        gaps = np.diff(newlines)
        if np.any(gaps == 1) or np.any(part[newlines[:-1][gaps == 2] + 1] == 13):
            return True
    return False


def _arrow_csv(
    path: Path, encoding: str, header_index: int, delimiter: str, header: list[str]
) -> pd.DataFrame | None:
    if len(set(header)) != len(header):
        return None  # repeated headings: let the slow path keep every column
    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(
                skip_rows=header_index, encoding="utf8" if encoding.startswith("utf-8") else encoding,
                block_size=CSV_BLOCK_BYTES,
            ),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=True),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
                true_values=[], false_values=[], null_values=[],
            ),
        )  # fmt: skip
    except pa.ArrowInvalid:
        return None
    if table.num_columns and table.column_names[0].startswith("\ufeff"):
        table = table.rename_columns(
            [table.column_names[0].removeprefix("\ufeff"), *table.column_names[1:]]
        )
    # ArrowDtype keeps Arrow's buffers as they are: no copy of a million-row upload
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    del table
    names = [
        column_key(c) if str(c).strip() else f"unnamed_{i + 1}" for i, c in enumerate(frame.columns)
    ]
    frame.columns = names
    if any(c.startswith("unnamed_") for c in names):
        frame = frame.loc[:, [c for c in names if not c.startswith("unnamed_")]]
    frame.index = pd.RangeIndex(header_index + 2, header_index + 2 + len(frame), name="row")
    if frame.empty:
        return frame
    blank = pd.Series(True, index=frame.index)
    for column in frame.columns:
        blank &= frame[column].str.strip() == ""
        if not blank.any():
            break
    return frame.loc[~blank] if blank.any() else frame


def _is_blank(cells: pd.DataFrame) -> bool:
    return cells.empty or bool(cells.map(_blank).all().all())


def _blank(value: object) -> bool:
    return (
        value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == ""
    )


def _locate_table(
    head_rows: list[list[object]], sheet: str | None, stem: str
) -> tuple[TableName, int] | None:
    """The table (by sheet or file name, else by headings) and its header row index."""
    by_name = next((t for t in TABLES if column_key(sheet or stem) == t), None)
    best: tuple[int, TableName, int] | None = None
    for index, row in enumerate(head_rows[:HEADER_SEARCH_ROWS]):
        keys = {column_key(v) for v in row if not _blank(v)}
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
    # reval's own "problems" column of a fix-up workbook is read past, not as data
    body = body.loc[:, [c for c in header if not c.startswith("unnamed_") and c != "problems"]]
    body.index = pd.RangeIndex(header_index + 2, header_index + 2 + len(body), name="row")
    filled = ~body.map(_blank)
    # a site's template comes with site_id filled in on every spare row: a row holding
    # nothing else is an unused row, not a record
    others = filled.drop(columns=["site_id"]) if "site_id" in body and body.shape[1] > 1 else filled
    return body.loc[others.any(axis=1)]
