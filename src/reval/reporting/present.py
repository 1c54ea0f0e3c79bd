"""How report sources put things on the page, the same way under Quarto and the built-in
renderer: figures as PNG outputs carrying their alt text in the output metadata (nbconvert
writes it into ``<img alt>``; the PDF path reads it back), tables and text as Markdown."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image, Markdown, display

from reval.inert import inert
from reval.reporting.figures import Chart

FIGURE_DPI = 110


def plain(text: object) -> str:
    """Uploaded text as inert Markdown (see :func:`reval.inert.inert`): no HTML, links,
    emphasis, maths, citations or table breaks (a story saying ``<script>``,
    ``https://x.example`` or ``@name`` is shown as written, never run, linked or formatted)."""
    return inert(text, "markdown")


def show_figure(chart: Chart, caption: str) -> None:
    """The picture (alt text attached), then its caption as a line of text (none when the
    caption is empty: the report writes its own, escaped with :func:`plain`)."""
    buffer = io.BytesIO()
    chart.figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    plt.close(chart.figure)
    display(
        Image(data=buffer.getvalue(), format="png"), metadata={"image/png": {"alt": chart.alt_text}}
    )
    if caption:
        display(Markdown(f"*{caption}*"))


def show_table(table: pd.DataFrame, caption: str = "", empty: str = "Nothing to show.",
               hide: tuple[str, ...] = ()) -> None:  # fmt: skip
    """A table as Markdown text, every cell made inert (numbers stay as formatted)."""
    table = table.drop(columns=[c for c in hide if c in table.columns])
    if table.empty:
        display(Markdown(f"*{empty}*"))
        return
    safe = table.map(plain)
    safe.index = [plain(i) for i in table.index]
    safe.columns = [plain(c) for c in table.columns]
    text = safe.to_markdown(index=not _default_index(table), disable_numparse=True)
    display(Markdown((f"*{caption}*\n\n" if caption else "") + text))


def show_text(*lines: str) -> None:
    display(Markdown("\n\n".join(lines)))


def show_list(items: list[str], empty: str = "None recorded.", *, trusted: bool = False) -> None:
    """A bulleted list; items are made inert unless ``trusted`` (reval's own sentences
    with no uploaded text in them, which may carry emphasis)."""
    lines = [item if trusted else plain(item) for item in items]
    display(Markdown("\n".join(f"- {line}" for line in lines) if lines else f"*{empty}*"))


def _default_index(table: pd.DataFrame) -> bool:
    return isinstance(table.index, pd.RangeIndex)
