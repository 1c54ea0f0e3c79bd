"""Figures for the reports: colour-blind-safe, and each with the alt text a screen
reader needs. Pure: data in, a :class:`Chart` out; nothing is written to disk here."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Final

import matplotlib.dates as mdates
import matplotlib.pyplot as plt  # picks a non-interactive backend on machines with no display
import pandas as pd
from matplotlib.figure import Figure

from reval.inert import FIGURE_TEXT, inert
from reval.reporting.content import first_survey, survey_name, wave_label

OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
"""Okabe & Ito's palette, distinguishable with the common colour-vision deficiencies."""


@dataclass(frozen=True)
class Chart:
    figure: Figure
    alt_text: str


def love_plot(balance: pd.DataFrame, *, title: str = "Balance before and after matching") -> Chart:
    """Absolute standardised mean difference of each covariate before (hollow) and after
    (filled) matching, with the 0.1 line: points left of it are balanced."""
    table = balance[balance["covariate"] != "distance"].iloc[::-1]
    figure, axes = plt.subplots(figsize=(7, 0.45 * len(table) + 1.6), layout="constrained")
    rows = range(len(table))
    axes.scatter(table["smd_before"].abs(), rows, facecolors="none", edgecolors=OKABE_ITO["vermillion"],
                 s=60, linewidths=1.8, label="Before matching", marker="o")  # fmt: skip
    axes.scatter(table["smd_after"].abs(), rows, color=OKABE_ITO["blue"], s=60, label="After matching",
                 marker="D")  # fmt: skip
    axes.axvline(0.1, color=OKABE_ITO["black"], linestyle="--", linewidth=1)
    axes.set_yticks(list(rows), [inert(c, "figure") for c in table["covariate"]], **FIGURE_TEXT)
    axes.set_xlabel("Absolute standardised mean difference (under 0.1 = balanced)")
    axes.set_title(title)
    axes.legend(loc="lower right", frameon=False)
    axes.set_xlim(left=0)
    unbalanced = table.loc[table["smd_after"].abs() >= 0.1, "covariate"].tolist()
    alt = (
        f"Dot plot of how different participants and comparisons were on {len(table)} characteristics, "
        f"before and after matching. The largest difference was "
        f"{table['smd_before'].abs().max():.2f} before and {table['smd_after'].abs().max():.2f} after; "
        + (f"still above the 0.1 line after matching: {', '.join(unbalanced)}."
           if unbalanced else "after matching every characteristic is under the 0.1 line.")
    )  # fmt: skip
    return Chart(figure, alt)


PANEL_ROWS: Final[int] = 24
"""More rows than this, over more than one measure: one panel per measure (a programme with
many measures, sites and waves), so each keeps its own scale and its labels stay short."""


def forest_plot(
    effects: pd.DataFrame, *, xlabel: str, title: str = "", by_measure: bool = False
) -> Chart:
    """Estimates with 95% intervals, one row per ``label``; the zero line is 'no effect'.
    With ``by_measure``, many rows over several measures (a ``panel`` column) are drawn one
    panel per measure."""
    table = effects.dropna(subset=["estimate"]).iloc[::-1]
    many = by_measure and len(table) > PANEL_ROWS
    if many and "panel" in table and table["panel"].nunique() > 1:
        return _forest_panels(table, xlabel=xlabel)
    figure, axes = plt.subplots(figsize=(7.5, 0.32 * len(table) + 1.4), layout="constrained")
    _forest_rows(axes, table, "label")
    # long labels leave a narrow plot: the axis title wraps and ends at the plot's right edge
    # (over the labels' side) instead of running off the page
    axes.set_xlabel(textwrap.fill(xlabel, 36), loc="right")
    if title:
        axes.set_title(title)
    return Chart(figure, _forest_alt(table))


def _forest_rows(axes: plt.Axes, table: pd.DataFrame, labels: str) -> None:
    """Each row's estimate and interval, the zero line, and the rows named by ``labels``."""
    rows = range(len(table))
    axes.errorbar(table["estimate"], rows,
                  xerr=[table["estimate"] - table["ci_low"], table["ci_high"] - table["estimate"]],
                  fmt="o", color=OKABE_ITO["blue"], ecolor=OKABE_ITO["sky_blue"], capsize=3)  # fmt: skip
    axes.axvline(0, color=OKABE_ITO["black"], linewidth=1)
    axes.set_yticks(list(rows), [inert(x, "figure") for x in table[labels]], **FIGURE_TEXT)


def _forest_alt(table: pd.DataFrame) -> str:
    clear = table[(table["ci_low"] > 0) | (table["ci_high"] < 0)]
    return (
        f"Forest plot of {len(table)} estimates with 95% intervals. "
        + (f"Intervals clear of zero: {'; '.join(f'{r.label} {r.estimate:.2f} ({r.ci_low:.2f} to {r.ci_high:.2f})' for r in clear.itertuples())}."
           if len(clear) else "Every interval crosses zero.")
    )  # fmt: skip


def _forest_panels(table: pd.DataFrame, *, xlabel: str) -> Chart:
    """One forest panel per measure, each on its own scale, rows labelled by site and wave."""
    panels = list(dict.fromkeys(table["panel"].iloc[::-1]))  # the measures in reading order
    sizes = [int((table["panel"] == p).sum()) for p in panels]
    figure, all_axes = plt.subplots(
        len(panels), 1, figsize=(7.5, 0.3 * len(table) + 0.55 * len(panels) + 1.2),
        layout="constrained", gridspec_kw={"height_ratios": [n + 1.5 for n in sizes]},
    )  # fmt: skip
    for axes, panel in zip(all_axes, panels, strict=True):
        _forest_rows(axes, table[table["panel"] == panel], "short")
        axes.set_title(inert(panel, "figure"), loc="left", fontsize=10, **FIGURE_TEXT)
    all_axes[-1].set_xlabel(textwrap.fill(xlabel, 36), loc="right")
    return Chart(figure, _forest_alt(table))


SHARE_COLOURS = {
    "disagree": OKABE_ITO["vermillion"],
    "neither": "#BBBBBB",
    "agree": OKABE_ITO["blue"],
}


def diverging_bars(shares: pd.DataFrame, *, title: str = "") -> Chart:
    """Disagree to the left of zero, agree to the right, 'neither' split across it; one bar
    per statement and wave (baseline above follow-up)."""
    table = shares.sort_values(["paradigm", "item", "wave"], ascending=[True, True, False])
    labels = [f"{'[new] ' if p == 'new' else '[old] '}{inert(s, 'figure')} ({inert(wave_label(w), 'figure')})"
              for p, s, w in zip(table["paradigm"], table["statement"], table["wave"], strict=True)]  # fmt: skip
    figure, axes = plt.subplots(figsize=(9, 0.34 * len(table) + 1.6), layout="constrained")
    rows = list(range(len(table)))
    shown = table["shown"].to_numpy(bool)
    neither = table["neither"].fillna(0).to_numpy() * 100
    disagree = table["disagree"].fillna(0).to_numpy() * 100
    agree = table["agree"].fillna(0).to_numpy() * 100
    axes.barh(rows, -disagree, left=-neither / 2, color=SHARE_COLOURS["disagree"], label="Disagree")
    axes.barh(rows, neither, left=-neither / 2, color=SHARE_COLOURS["neither"], label="Neither")
    axes.barh(rows, agree, left=neither / 2, color=SHARE_COLOURS["agree"], label="Agree")
    for row, ok in zip(rows, shown, strict=True):
        if not ok:
            axes.text(
                0, row, "not shown: fewer than 5 people", ha="center", va="center", fontsize=8
            )
    axes.axvline(0, color=OKABE_ITO["black"], linewidth=0.8)
    axes.set_yticks(rows, labels, fontsize=8, **FIGURE_TEXT)
    axes.set_xlim(-100, 100)
    axes.set_xlabel("% of people answering (disagree left, agree right)")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if len(table) < 6 else -0.04),
                ncol=3, frameon=False)  # fmt: skip
    if title:
        axes.set_title(title)
    visible = table[table["shown"]]
    moves = []
    for _, group in visible.groupby("item"):
        if group["wave"].nunique() > 1:
            first, last = group.sort_values("wave").iloc[[0, -1]].itertuples()
            moves.append(f"{first.statement}: agree {first.agree:.0%} -> {last.agree:.0%}")
    alt = (f"Diverging stacked bars of agreement with {table['item'].nunique()} paradigm statements by wave. "
           + ("; ".join(moves) + "." if moves else ""))  # fmt: skip
    return Chart(figure, alt)


def empowers_chart(profile: pd.DataFrame, *, title: str = "", plain_waves: bool = False) -> Chart:
    """Mean EMPOWERS rating (0-10) per behaviour, one bar per wave, with 95% intervals;
    ``plain_waves`` says "First survey", "Second survey"... (participant summary)."""
    waves = sorted(profile["wave"].unique())
    behaviours = list(dict.fromkeys(profile["behaviour"]))
    figure, axes = plt.subplots(figsize=(7.5, 0.5 * len(behaviours) * max(1, len(waves) / 2) + 1.5),
                                layout="constrained")  # fmt: skip
    height = 0.8 / max(len(waves), 1)
    colours = [OKABE_ITO["sky_blue"], OKABE_ITO["blue"], OKABE_ITO["green"], OKABE_ITO["orange"]]
    for k, wave in enumerate(waves):
        part = profile[profile["wave"] == wave].set_index("behaviour").reindex(behaviours)
        y = [i + k * height for i in range(len(behaviours))]
        error = [
            (part["mean"] - part["ci_low"]).fillna(0),
            (part["ci_high"] - part["mean"]).fillna(0),
        ]
        axes.barh(y, part["mean"].fillna(0), height=height, color=colours[k % len(colours)],
                  xerr=error, capsize=2, label=inert(survey_name(wave) if plain_waves else _capital(wave_label(wave)), "figure"))  # fmt: skip
    axes.set_yticks([i + height * (len(waves) - 1) / 2 for i in range(len(behaviours))],
                    [inert(b, "figure") for b in behaviours], **FIGURE_TEXT)  # fmt: skip
    axes.invert_yaxis()
    axes.set_xlim(0, 10)
    axes.set_xlabel("How strongly people see the movement doing this (0-10)")
    axes.legend(loc="lower right", frameon=False)
    if title:
        axes.set_title(title)
    last = profile[profile["wave"] == waves[-1]].dropna(subset=["mean"]) if waves else profile
    top = last.sort_values("mean", ascending=False).head(2)
    alt = (f"Bar chart of the EMPOWERS profile over {len(waves)} waves. "
           + (f"Strongest at {wave_label(waves[-1])}: " + ", ".join(f"{r.behaviour} {r.mean:.1f}" for r in top.itertuples()) + "."
              if len(top) else ""))  # fmt: skip
    return Chart(figure, alt)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def six_box_chart(counts: pd.DataFrame, *, title: str = "") -> Chart:
    """The Revaluation grid: kinds of value by visible/invisible, counts already suppressed."""
    body = counts.drop(index="Total", errors="ignore").drop(columns="Total", errors="ignore")
    figure, axes = plt.subplots(figsize=(6, 3.2), layout="constrained")
    axes.set_xlim(0, len(body.columns))
    axes.set_ylim(0, len(body.index))
    fills = {"visible": "#CFE6F5", "invisible": "#F3E1C5"}
    for i, kind in enumerate(body.index):
        for j, visibility in enumerate(body.columns):
            y = len(body.index) - 1 - i
            axes.add_patch(plt.Rectangle((j, y), 1, 1, facecolor=fills.get(visibility, "white"),
                                         edgecolor=OKABE_ITO["black"]))  # fmt: skip
            axes.text(j + 0.5, y + 0.5, f"{kind}\n{visibility}\n{body.iloc[i, j]} items",
                      ha="center", va="center", fontsize=10, **FIGURE_TEXT)  # fmt: skip
    axes.set_axis_off()
    if title:
        axes.set_title(title)
    cells = "; ".join(
        f"{kind} {vis}: {body.loc[kind, vis]}" for kind in body.index for vis in body.columns
    )
    return Chart(figure, f"Six-box grid of value items by kind and visibility. {cells}.")


PHASE_COLOURS = {
    "enduring_crisis": "#E8E8E8", "emergence": "#CFE6F5", "impact_formalisation": "#CDEBDD",
    "adaptation": "#FBEBC4", "decline": "#F6D3C0",
}  # fmt: skip


def timeline_chart(events: pd.DataFrame, *, title: str = "") -> Chart:
    """Events in date order, each on its own line, coloured by the movement's phase."""
    table = events.assign(event_date=pd.to_datetime(events["event_date"])).sort_values("event_date")
    figure, axes = plt.subplots(figsize=(8, 0.38 * len(table) + 1.4), layout="constrained")
    rows = list(range(len(table)))[::-1]
    middle = table["event_date"].min() + (table["event_date"].max() - table["event_date"].min()) / 2
    for row, event in zip(rows, table.itertuples(), strict=True):
        axes.scatter(event.event_date, row, s=70, color=OKABE_ITO["blue"], zorder=3)
        left = event.event_date > middle  # late events are labelled to the left of their dot
        axes.text(event.event_date, row + 0.25, f"  {inert(event.description, 'figure')}  ",
                  fontsize=8, va="bottom", ha="right" if left else "left", **FIGURE_TEXT)  # fmt: skip
        axes.axhspan(row - 0.5, row + 0.5, color=PHASE_COLOURS.get(event.phase, "white"), zorder=0)
    axes.set_yticks(rows, [p.replace("_", " ") for p in table["phase"]], fontsize=8, **FIGURE_TEXT)
    axes.set_ylim(-0.6, len(table) - 0.2)
    axes.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    axes.set_xlabel("Date")
    if title:
        axes.set_title(title)
    phases = list(dict.fromkeys(table["phase"]))
    alt = (f"Timeline of {len(table)} events from {table['event_date'].min():%B %Y} to "
           f"{table['event_date'].max():%B %Y}, moving through the phases "
           f"{', '.join(p.replace('_', ' ') for p in phases)}.")  # fmt: skip
    return Chart(figure, alt)


def change_chart(
    changes: pd.DataFrame, *, xlabel: str = "", title: str = "", large: bool = False
) -> Chart:
    """Change per ``label`` with its likely range: big, plain bars for sense-making sessions
    (the axis says since which survey, as the programme names its baseline)."""
    xlabel = xlabel or f"Change in points since {first_survey()}"
    table = changes.dropna(subset=["estimate"]).iloc[::-1]
    size = 15 if large else 10
    figure, axes = plt.subplots(figsize=(8, 1.1 * len(table) + 1.6), layout="constrained")
    rows = range(len(table))
    colours = [OKABE_ITO["blue"] if good else OKABE_ITO["orange"] for good in table["good"]]
    axes.barh(rows, table["estimate"], color=colours, height=0.6,
              xerr=[table["estimate"] - table["ci_low"], table["ci_high"] - table["estimate"]],
              capsize=6, error_kw={"linewidth": 2})  # fmt: skip
    axes.axvline(0, color=OKABE_ITO["black"], linewidth=1.2)
    # a long label ("Feeling that what you do is worthwhile") wraps, so the bars keep room
    labels = [textwrap.fill(str(label), 28) for label in table["label"]]
    axes.set_yticks(list(rows), labels, fontsize=size, **FIGURE_TEXT)
    axes.tick_params(axis="x", labelsize=size - 2)
    axes.set_xlabel(xlabel, fontsize=size - 2)
    if title:
        axes.set_title(title, fontsize=size)
    alt = "Bar chart of change with likely ranges: " + "; ".join(
        f"{r.label} {r.estimate:+.1f} (likely {r.ci_low:.1f} to {r.ci_high:.1f})" for r in table.iloc[::-1].itertuples()
    ) + "."  # fmt: skip
    return Chart(figure, alt)
