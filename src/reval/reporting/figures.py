"""Figures for the reports: colour-blind-safe, and each with the alt text a screen
reader needs. Pure: data in, a :class:`Chart` out; nothing is written to disk here."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt  # picks a non-interactive backend on machines with no display
import pandas as pd
from matplotlib.figure import Figure

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
    axes.set_yticks(list(rows), table["covariate"].tolist())
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
