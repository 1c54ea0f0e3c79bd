"""Hostile text, as an attacker with a site token would upload it: every value must reach
every page, figure and workbook exactly as written and never as markup, a link, maths,
a citation, a Typst call or a formula."""

from __future__ import annotations

import re
from typing import Final

from reval.inert import BIDI_CONTROLS

PASSWD: Final = "/etc/passwd"

HOSTILE: Final[tuple[str, ...]] = (
    # HTML and JavaScript
    '<script>alert("xss")</script>',
    "<img src=x onerror=alert(1)>",
    '<iframe src="https://evil.example/frame"></iframe>',
    '<a href="https://evil.example/a">click here</a>',
    "<svg onload=alert(1)>svg</svg>",
    "<!-- hidden --> &lt;b&gt; &amp; entities",
    "javascript:alert(document.cookie)",
    # links: Markdown, autolinks and bare URLs
    "[click me](javascript:alert(1))",
    "[phish](https://evil.example/md)",
    "<https://evil.example/auto>",
    "https://evil.example/phish",
    "see www.evil.example today",
    "write to nurse@evil.example",
    # Markdown, LaTeX and pandoc extensions
    "**bold** _em_ ~~strike~~ `code`",
    "# a heading line",
    "| a | b | broken table |",
    "$x^$",
    "profit of $x^$ fell",
    "E=mc^2^ and H~2~O",
    "\\(x\\) \\[y\\] $$z$$ \\begin{equation}a\\end{equation}",
    "Thanks to @nurse_jo",
    "[@nurse_jo, p. 4] said so",
    "^[an inline note]",
    "::: {.warning}\nfenced div\n:::",
    "[span]{.smallcaps} and {=html}",
    # Typst and pandoc raw blocks
    f'#read("{PASSWD}")',
    f'#image("{PASSWD}")',
    f'#include "{PASSWD}"',
    f'#eval("read(\\"{PASSWD}\\")")',
    f'```{{=typst}}\n#read("{PASSWD}")\n```',
    f'`#read("{PASSWD}")`{{=typst}}',
    "<div>raw <b>html</b></div>{=html} `<b>x</b>`{=html}",
    "a // typst comment /* block */ end",
    # spreadsheet formulas
    '=HYPERLINK("https://evil.example/x","click")',
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1,2)",
    "\t=1+1 after a tab",
    "\r=1+1 after a carriage return",
    "=1+1",
    # bidirectional controls, template syntax, size
    "abc\u202egnp.exe",
    "\u2066isolated\u2069 and \u200fmark",
    "{{7*7}} {% raw %} ${7*7}",
    "hostile long text " * 570,
)
"""Every value is uploaded in every text column of every table (columns that allow only
codes or choices reject most of them, which sends them to the fix-up workbook)."""

NUL_VALUE: Final = "a NUL\x00byte in a story"

COMBINED: Final = '<img src=x onerror=alert(1)> https://evil.example/p @nurse_jo $x^$ E=mc^2^ #read("/etc/passwd")'
"""For columns with one value per key (a site's name, a statement shown in a figure): the
attacks at once, within the 120 characters a site name allows."""


def as_shown(value: str) -> str:
    """What a reader should see: the value as written, on one line, without control or
    bidirectional-override characters (compare with :func:`squeeze` on both sides)."""
    kept = "".join(
        ch for ch in value if ch not in BIDI_CONTROLS and (ch.isprintable() or ch.isspace())
    )
    return " ".join(kept.split())


def squeeze(text: str) -> str:
    """Text with all whitespace removed: page layout wraps long values anywhere."""
    return re.sub(r"\s+", "", text)
