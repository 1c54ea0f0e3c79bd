"""Problems found in an upload, said so a coordinator can fix them.

A :class:`Problem` carries everything a person needs to find and fix one cell
(file, sheet, the row number they see in their spreadsheet, the Excel cell such as
``D14``, the column's heading, the value) and what to write instead, plus a reason
code for machines. :func:`group_problems` folds the same problem on many rows into
one :class:`ProblemGroup` ("rows 2-61 and 64"), and :func:`belongs_elsewhere` says in
one sentence when a whole file is another site's. Exceptions follow the same shape,
pandera-style: a small hierarchy whose payload is the list of problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Literal

from reval.errors import RevalError

ReasonCode = Literal[
    "unreadable_file",
    "not_a_spreadsheet",
    "empty_file",
    "file_too_large",
    "password_protected",
    "macro_enabled",
    "zip_bomb",
    "wrong_site",
    "unknown_table",
    "missing_column",
    "missing_value",
    "wrong_type",
    "not_allowed",
    "not_on_scale",
    "out_of_range",
    "bad_format",
    "too_long",
    "duplicate_key",
    "rule_broken",
    "unknown_site",
    "unknown_item",
    "unknown_measure",
    "personal_identifier",
    "overlapping_bands",
    "waiting",
]
NOTE_REASONS: frozenset[str] = frozenset({"overlapping_bands", "waiting"})
"""Said once about rows that were nevertheless accepted: worth reading, not a rejection."""

MAX_VALUE_CHARS = 60


@dataclass(frozen=True)
class Problem:
    file: str
    sheet: str | None
    row: int | None
    """Row number as the user sees it in their spreadsheet (header is usually row 1)."""
    column: str | None
    value: str | None
    expected: str
    """What is wrong and what to write instead, as words about the value or the place
    ("is not one of the allowed answers; write one of: ...")."""
    reason: ReasonCode
    cell: str | None = None
    """Where Excel shows it: ``D14`` for a cell, ``D`` for a whole column."""
    heading: str | None = None
    """The column's heading as the file has it ('Event date' for event_date)."""

    def container(self) -> str:
        """The sheet, or for a CSV (no sheets) the file's name."""
        return f"Sheet {self.sheet}" if self.sheet else self.file

    def where(self) -> str:
        parts = [self.container()]
        name = self.heading or self.column
        if self.row is not None and self.cell and name:
            parts.append(f"cell {self.cell} ({name})")
        elif self.cell and name:
            parts.append(f"column {self.cell} ({name})")
        else:
            if self.row is not None:
                parts.append(f"row {self.row}")
            if name:
                parts.append(f"column {name}")
        return ", ".join(parts)

    def message(self) -> str:
        """One plain-English sentence: where (sheet or file, Excel cell, heading), the
        value found, what is wrong and what to write instead."""
        where = self.where()
        if self.value is None or self.value == "":
            return sentence(f"{where} {self.expected}")
        return sentence(f"{where}: '{_shorten(self.value)}' {self.expected}")

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "message": self.message()}


def sentence(text: str) -> str:
    """One full stop at the end (the start is a sheet, a file name as it is spelt, or a
    capital already)."""
    text = text.strip()
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def _shorten(value: str) -> str:
    return value if len(value) <= MAX_VALUE_CHARS else value[: MAX_VALUE_CHARS - 1] + "…"


def column_letter(position: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the letters Excel shows above a column."""
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def located(problems: list[Problem], headings: Mapping[str, tuple[int, str]]) -> list[Problem]:
    """The problems with their Excel cell and heading filled in, from the sheet's
    heading positions (column key -> (0-based position, heading as written))."""
    if not headings:
        return problems
    out = []
    for p in problems:
        first = (p.column or "").split(",")[0].strip()
        found = headings.get(first)
        if found is None or p.cell is not None:
            out.append(p)
            continue
        letter = column_letter(found[0])
        heading = found[1] if "," not in (p.column or "") else p.column
        cell = f"{letter}{p.row}" if p.row is not None else letter
        out.append(replace(p, cell=cell, heading=heading))
    return out


# --- grouping: the same problem on many rows is one line ---------------------------------

MAX_RANGES_SHOWN = 12
MAX_VALUES_SHOWN = 3


@dataclass(frozen=True)
class ProblemGroup:
    """The same problem (sheet, column, reason, what to do) on one or more rows."""

    file: str
    sheet: str | None
    column: str | None
    heading: str | None
    letter: str | None
    reason: ReasonCode
    expected: str
    rows: tuple[int, ...]
    values: tuple[str, ...]
    """Distinct values found, in order of first appearance."""
    count: int

    def container(self) -> str:
        return f"Sheet {self.sheet}" if self.sheet else self.file

    def rows_text(self) -> str:
        """'row 5', 'rows 2-61 and 64', capped: '... and 40 more rows'."""
        return rows_text(self.rows)

    def column_text(self) -> str:
        name = self.heading or self.column
        if not name:
            return ""
        return f"column {self.letter} ({name})" if self.letter else f"column {name}"

    def values_text(self) -> str:
        shown = [f"'{_shorten(v)}'" for v in self.values[:MAX_VALUES_SHOWN]]
        more = len(self.values) - len(shown)
        if more > 0:
            shown.append(f"{more} other value{'s' if more > 1 else ''}")
        if len(shown) <= 1:
            return "".join(shown)
        return ", ".join(shown[:-1]) + " and " + shown[-1]

    def place_text(self) -> str:
        """Where in the sheet: 'cell D3 (phase)' for one cell, else the rows and column."""
        if len(self.rows) == 1 and self.letter and self.count == 1:
            return f"cell {self.letter}{self.rows[0]} ({self.heading or self.column})"
        return ", ".join(text for text in (self.rows_text(), self.column_text()) if text)

    def finding(self) -> str:
        """What was found and what to write instead, as a sentence of its own:
        "'growing' is not one of the allowed answers; write one of: ..."."""
        if len(self.values) == 1:
            return sentence(f"'{_shorten(self.values[0])}' {self.expected}")
        if self.values:
            return sentence(f"{self.values_text()}: each {self.expected}")
        if self.count > 1:
            return sentence(f"{'Each cell' if self.column else 'Each row'} {self.expected}")
        thing = "This cell" if self.column and self.rows else "This column" if self.column else (
            "This row" if self.rows else "The file")  # fmt: skip
        if self.column and not self.rows:
            return sentence(f"{thing} ({self.heading or self.column}) {self.expected}")
        return sentence(f"{thing} {self.expected}")

    def message(self) -> str:
        """'Sheet events, rows 2-61 and 64, column A (site_id): 'gm_cancer' is another
        site; ... (61 cells).'"""
        parts = [self.container()]
        if len(self.rows) == 1 and self.letter and self.count == 1:
            parts.append(f"cell {self.letter}{self.rows[0]} ({self.heading or self.column})")
        else:
            parts += [text for text in (self.rows_text(), self.column_text()) if text]
        where = ", ".join(parts)
        count = f" ({self.count} {'cells' if self.column else 'rows'})" if self.count > 1 else ""
        if len(self.values) == 1:
            return sentence(f"{where}: '{_shorten(self.values[0])}' {self.expected}{count}")
        if self.values:
            return sentence(f"{where}: {self.values_text()}; each {self.expected}{count}")
        if self.count > 1:
            each = "each cell" if self.column else "each row"
            return sentence(f"{where}: {each} {self.expected}{count}")
        return sentence(f"{where} {self.expected}")


def rows_text(rows: tuple[int, ...] | list[int]) -> str:
    """Row numbers as ranges: 'row 5', 'rows 2-61 and 64'; long lists end '... and N more'."""
    ordered = sorted(set(rows))
    if not ordered:
        return ""
    ranges: list[tuple[int, int]] = []
    for row in ordered:
        if ranges and row == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], row)
        else:
            ranges.append((row, row))
    words = [str(a) if a == b else f"{a}-{b}" for a, b in ranges[:MAX_RANGES_SHOWN]]
    hidden = sum(b - a + 1 for a, b in ranges[MAX_RANGES_SHOWN:])
    if hidden:
        words.append(f"{hidden} more row{'s' if hidden > 1 else ''}")
    label = "row" if len(ordered) == 1 else "rows"
    if len(words) == 1:
        return f"{label} {words[0]}"
    return f"{label} {', '.join(words[:-1])} and {words[-1]}"


def group_problems(problems: list[Problem]) -> list[ProblemGroup]:
    """One group per (file, sheet, column, reason, what to do), in the order the
    problems were found."""
    groups: dict[tuple[object, ...], list[Problem]] = {}
    for p in problems:
        key = (p.file, p.sheet, p.column, p.reason, p.expected)
        groups.setdefault(key, []).append(p)
    out = []
    for members in groups.values():
        first = members[0]
        values = tuple(dict.fromkeys(p.value for p in members if p.value))
        letter = first.cell.rstrip("0123456789") if first.cell else None
        rows = tuple(p.row for p in members if p.row is not None)
        out.append(ProblemGroup(first.file, first.sheet, first.column, first.heading, letter,
                                first.reason, first.expected, rows, values, len(members)))  # fmt: skip
    return out


def belongs_elsewhere(
    problems: list[Problem], rows_read: int, upload_site: str | None, site_names: Mapping[str, str]
) -> str | None:
    """One sentence when the whole file is another site's (or another programme's):
    every row it holds is for a site this account does not upload for, or that the
    programme does not have. None when the file is this site's with mistakes in it."""
    elsewhere = [p for p in problems if p.reason in {"wrong_site", "unknown_site"}]
    rows = {(p.file, p.sheet, p.row) for p in elsewhere if p.row is not None}
    if not rows_read or not elsewhere or len(rows) < rows_read:
        return None
    found = list(dict.fromkeys(p.value for p in elsewhere if p.value))
    named = [f"{site_names[v]} ({v})" if v in site_names else v for v in found[:3]]
    if len(found) > 3:
        named.append(f"{len(found) - 3} more")
    sites = (", ".join(named[:-1]) + " and " + named[-1]) if len(named) > 1 else "".join(named)
    plural = "s" if rows_read > 1 else ""
    if upload_site is not None and all(p.reason == "wrong_site" for p in elsewhere):
        mine = site_names.get(upload_site, upload_site)
        return sentence(
            f"This file is for {sites or 'another site'}, not for {mine}: every one of its "
            f"{rows_read} row{plural} names another site in site_id, so nothing was loaded. "
            f"Check you chose the right file; if it really is {mine}'s data, write "
            f"{upload_site} in the site_id column and upload it again"
        )
    if not site_names:
        return None  # a programme with no sites yet: not "another programme's" file
    verb = "is not a site" if len(found) == 1 else "are not sites"
    return sentence(
        f"This file is for {sites}, which {verb} of this programme: none of its {rows_read} "
        f"row{plural} could be loaded. Check you chose the right file, or ask the evaluation "
        "team to add the site first"
    )


class RejectedUploadError(RevalError):
    """The whole file was refused; nothing from it was loaded."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        groups = group_problems(problems)
        lines = "\n".join(f"  - {g.message()}" for g in groups[:20])
        more = f"\n  … and {len(groups) - 20} more" if len(groups) > 20 else ""
        super().__init__(
            f"{file} was not loaded: {len(problems)} problem(s).\n{lines}{more}\n"
            "Fix these in the spreadsheet and upload it again; nothing from this file was stored."
        )
