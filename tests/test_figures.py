"""Report figures: the love plot shows before and after with the 0.1 line, in
colour-blind-safe colours, with alt text that says what it shows."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from reval.matching.programme import matched_effects
from reval.reporting.figures import OKABE_ITO, love_plot


def test_love_plot_draws_both_stages_and_the_threshold(programme, tmp_path) -> None:
    _, balance = matched_effects(programme.tables["comparison_records"][
        programme.tables["comparison_records"]["site_id"] == "airedale_care_homes"])  # fmt: skip
    table = balance[
        (balance["site_id"] == "airedale_care_homes") & (balance["outcome"] == "ae_visits")
    ]
    chart = love_plot(table)
    axes = chart.figure.axes[0]
    before, after = axes.collections[:2]
    covariates = table[table["covariate"] != "distance"]
    assert len(before.get_offsets()) == len(after.get_offsets()) == len(covariates)
    assert [t.get_text() for t in axes.get_yticklabels()][::-1] == covariates["covariate"].tolist()
    assert any(abs(line.get_xdata()[0] - 0.1) < 1e-12 for line in axes.get_lines())
    assert after.get_facecolor()[0][:3].round(3).tolist() == [0.0, 0.447, 0.698]  # Okabe-Ito blue
    assert OKABE_ITO["blue"] == "#0072B2"
    assert "after matching every characteristic is under the 0.1 line" in chart.alt_text
    chart.figure.savefig(tmp_path / "love.png", dpi=80)
    assert (tmp_path / "love.png").stat().st_size > 5_000


def test_a_long_forest_plot_over_several_measures_is_drawn_one_panel_per_measure() -> None:
    import numpy as np

    from reval.reporting.figures import PANEL_ROWS, forest_plot

    n = PANEL_ROWS + 6
    table = pd.DataFrame({"estimate": np.linspace(-1, 1, n), "ci_low": np.linspace(-2, 0, n),
                          "ci_high": np.linspace(0, 2, n), "label": [f"site {i}" for i in range(n)],
                          "short": [f"s{i}" for i in range(n)],
                          "panel": ["wellbeing"] * 10 + ["anxiety"] * (n - 10)})  # fmt: skip
    panels = forest_plot(table, xlabel="change", by_measure=True)
    assert [len(a.get_yticks()) for a in panels.figure.axes] == [10, n - 10]  # reading order
    assert [a.get_title(loc="left") for a in panels.figure.axes] == ["wellbeing", "anxiety"]
    one = forest_plot(table.head(PANEL_ROWS), xlabel="change", by_measure=True)
    assert [len(a.get_yticks()) for a in one.figure.axes] == [PANEL_ROWS]
    plt.close("all")
