"""Problems found in an upload, said so a coordinator can fix them.

A :class:`Problem` carries everything a person needs to find and fix one cell
(file, sheet, the row number they see in their spreadsheet, column, value) and
what was expected, plus a reason code for machines. Exceptions follow the same
shape, pandera-style: a small hierarchy whose payload is the list of problems.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
    reason: ReasonCode

    def where(self) -> str:
        parts = []
        if self.sheet:
            parts.append(f"sheet {self.sheet}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column}")
        return ", ".join(parts) if parts else self.file

    def message(self) -> str:
        """One plain-English sentence: where, what was found, what to do."""
        where = self.where()
        if where.startswith(("sheet", "row", "column")):
            where = where[0].upper() + where[1:]
        if self.value is None or self.value == "":
            return f"{where}: {self.expected}"
        return f"{where}: '{_shorten(self.value)}' - {self.expected}"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "message": self.message()}


def _shorten(value: str) -> str:
    return value if len(value) <= MAX_VALUE_CHARS else value[: MAX_VALUE_CHARS - 1] + "…"


class RejectedUploadError(RevalError):
    """The whole file was refused; nothing from it was loaded."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        lines = "\n".join(f"  - {p.message()}" for p in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(
            f"{file} was not loaded: {len(problems)} problem(s).\n{lines}{more}\n"
            "Fix these in the spreadsheet and upload it again; nothing from this file was stored."
        )
