"""Uploaded text made inert for the place it is shown: the one way text from an upload
(stories, descriptions, names, file names) reaches a report page, a figure or a workbook.

A value is shown as written and never becomes markup: no HTML, link, emphasis, maths,
citation, superscript, Typst or spreadsheet formula. Each target has its own escaping:

- ``"markdown"``: Markdown source that both nbconvert (HTML) and pandoc (PDF via Typst)
  read as plain text. Every ASCII punctuation character is backslash-escaped (CommonMark
  and pandoc both treat an escaped punctuation character literally), so no construct of
  either dialect can start, including bare-URL autolinks (``https\\://`` matches no URL
  rule), ``@citations``, ``$maths$``, ``^superscript^`` and raw blocks.
- ``"figure"``: text for a matplotlib ``Text`` that is drawn with :data:`FIGURE_TEXT`
  (mathtext and TeX off), so ``$x^$`` is drawn, not parsed.
- ``"cell"``: a string for a workbook cell, written as a string cell (never a formula).

Every target drops control and bidirectional-override characters (a right-to-left
override can make ``evil.example/moc`` read as something else) and the markdown and
figure targets put the value on one line.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Final, Literal

Target = Literal["markdown", "figure", "cell"]

MARKDOWN_SPECIALS: Final = re.compile("([" + re.escape(string.punctuation) + "])")
BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
FIGURE_TEXT: Final[dict[str, bool]] = {"parse_math": False, "usetex": False}
"""Text properties for every matplotlib text drawn from an upload."""
CELL_MAX_CHARS: Final = 32_767
"""The most characters a spreadsheet cell holds (Excel's limit)."""


def inert(value: object, target: Target = "markdown") -> str:
    """``value`` as text that shows as written in ``target`` and cannot become markup."""
    text = "".join(ch for ch in str(value) if _kept(ch))
    if target == "cell":
        return text[:CELL_MAX_CHARS]
    flat = " ".join(text.split())
    if target == "figure":
        return flat
    return MARKDOWN_SPECIALS.sub(r"\\\1", flat)


def _kept(ch: str) -> bool:
    if ch in "\t\n\r":
        return True  # whitespace: kept in cells, flattened to spaces elsewhere
    if ch in BIDI_CONTROLS:
        return False
    return unicodedata.category(ch) not in {"Cc", "Cs"}
