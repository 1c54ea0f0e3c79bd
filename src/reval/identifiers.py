"""NHS numbers found anywhere in a value, and masked before anything is kept.

An NHS number is ten digits whose tenth is the modulus-11 check digit of the first nine.
People write them as ``9434765919``, ``943 476 5919`` or ``943-476-5919``, alone in a
cell or inside a sentence ("my NHS number is 943 476 5919"), in an id (``R-9434765919``),
a file name (``9434765919.csv``) or a sheet name. So a candidate is any ten digits in a
row, each pair separated by at most one space or dash, that does not start right after
a digit or a decimal point (the fraction of ``0.6666666666``) and is not followed
directly by another digit; it is an NHS number when the check digit holds. Date-times
(``2026-12-03 18:12``) and hexadecimal digests (SHA-256, ids) are never candidates.

Pure functions over text; the ingest masks cells, names and the archived copy with them.
"""

from __future__ import annotations

import re
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NHS_NUMBER_MASK: Final[str] = "[NHS number removed]"
"""What a cell shows where an NHS number was."""
NHS_NAME_MASK: Final[str] = "NHS number removed"
"""The same in a file or sheet name (Excel refuses brackets in sheet names)."""

CANDIDATE: Final[re.Pattern[str]] = re.compile(r"(?=((?<![\d.])\d(?:[ -]?\d){9}(?!\d)))")
"""Every ten-digit window (overlapping) that starts a number and is not a fraction."""
PREFILTER: Final[str] = r"(?:^|[^0-9.])[0-9](?:[ -]?[0-9]){9}"
"""A superset of :data:`CANDIDATE` in RE2 syntax (Arrow's regex engine), to find the few
cells worth a closer look in a million-row column."""
NOT_NHS: Final[re.Pattern[str]] = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}[:.]\d{2}"  # a date-time
    r"|(?<![0-9A-Za-z])(?:[0-9a-f]{32,}|[0-9A-F]{32,})(?![0-9A-Za-z])"  # a digest or hex id
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # a UUID
)
DIGIT_RUN: Final[re.Pattern[str]] = re.compile(r"\d(?:[ -]?\d){9,}")
"""A run of ten or more digits, each pair separated by at most one space or dash."""


def is_nhs_number(digits: str) -> bool:
    """Ten digits whose last is the modulus-11 check digit of the first nine."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9]))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def nhs_number_spans(text: str) -> list[tuple[int, int]]:
    """Where NHS numbers are in ``text``: (start, end) pairs, merged where they overlap.

    Runs of ten or more digits are found first (fast); only inside those are the
    ten-digit windows tried, so a large file of numbers costs one regex pass."""
    excluded: list[tuple[int, int]] | None = None
    spans: list[tuple[int, int]] = []
    for run in DIGIT_RUN.finditer(text):
        start, end = run.span()
        chunk = run.group()
        if chunk.isdigit():  # no separators: only a run of exactly ten can be one
            if len(chunk) != 10 or (start and text[start - 1] == ".") or not is_nhs_number(chunk):
                continue
            found = [(start, end)]
        else:
            found = [
                (m.start(1), m.end(1))
                for m in CANDIDATE.finditer(text, start, end)
                if is_nhs_number(re.sub(r"[ -]", "", m.group(1)))
            ]
        for a, b in found:
            if excluded is None:
                excluded = [m.span() for m in NOT_NHS.finditer(text)]
            if any(x < b and a < y for x, y in excluded):
                continue
            if spans and a < spans[-1][1]:
                spans[-1] = (spans[-1][0], max(b, spans[-1][1]))
            else:
                spans.append((a, b))
    return spans


def has_nhs_number(text: str) -> bool:
    return bool(nhs_number_spans(text))


def mask_nhs_numbers(text: str, mask: str = NHS_NUMBER_MASK) -> str:
    """``text`` with every NHS number in it replaced by ``mask``."""
    spans = nhs_number_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], mask]
        last = end
    out.append(text[last:])
    return "".join(out)


def mask_nhs_numbers_in(text: str, separator: str, mask: str = NHS_NUMBER_MASK) -> str:
    """:func:`mask_nhs_numbers` for a whole file: ``text`` is cut at ``separator`` (a
    line break for CSV, ``<`` for XML: no number runs across one), Arrow's regex engine
    picks the pieces worth a look in one pass, and only those are searched digit by
    digit (Python's regex takes ~10 s over a 40 MB CSV of numbers; this, under one)."""
    whole = pc.match_substring_regex(pa.array([text], pa.large_string()), PREFILTER)
    if not whole[0].as_py():
        return text  # the common case: one linear pass over the whole file
    pieces = text.split(separator)
    hits = pc.fill_null(
        pc.match_substring_regex(pa.array(pieces, pa.large_string()), PREFILTER), False
    )
    found = np.flatnonzero(hits.to_numpy(zero_copy_only=False))
    if not len(found):
        return text
    for i in found:
        pieces[i] = mask_nhs_numbers(pieces[i], mask)
    return separator.join(pieces)


def mask_name(name: str) -> str:
    """A file or sheet name with any NHS number in it masked (names are shown and kept)."""
    return mask_nhs_numbers(name, NHS_NAME_MASK)
