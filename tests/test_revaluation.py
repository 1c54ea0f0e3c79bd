"""The Revaluation account: six boxes, invisible to visible, and value as a range."""

from __future__ import annotations

import pandas as pd
import pytest

from reval.revaluation import (
    CENTRAL,
    Adjustments,
    calculated_value,
    moved_to_visible,
    settled_share,
    six_box_grid,
    value_sensitivity,
)


def test_six_box_grid_counts_every_item_once_with_empty_boxes_kept(programme) -> None:
    items = programme.tables["value_items"]
    grid = six_box_grid(items)
    sessions = items.groupby(["site_id", "session_date"]).ngroups
    assert len(grid) == sessions * 6
    assert grid["items"].sum() == len(items)


def test_moved_to_visible_matches_the_documented_truth(programme) -> None:
    moved = moved_to_visible(programme.tables["value_items"])
    counts = moved.groupby("site_id").size()
    for site, truth in programme.truth["sites"].items():
        assert counts.get(site, 0) == truth["value_account"]["items_moved_invisible_to_visible"]


def test_settled_share_per_session(programme) -> None:
    table = settled_share(programme.tables["value_items"])
    assert table["share_settled"].between(0, 1).all()
    assert (table["settled"] <= table["items"]).all()


def test_adjusted_value_by_hand() -> None:
    # 1000 a year, deadweight 25%, attribution 30%, displacement 10%: 472.5 net in year one,
    # then 20% drop-off a year for three years: 472.5 * (1 + 0.8 + 0.64)
    assert CENTRAL.value(1000.0) == pytest.approx(472.5 * 2.44)
    assert (
        Adjustments(deadweight=0, attribution=0, displacement=0, drop_off=0, years=1).value(10.0)
        == 10.0
    )


def test_value_is_always_a_range_never_one_figure(programme) -> None:
    value = calculated_value(programme.tables["value_items"])
    assert {"value_low_gbp", "value_central_gbp", "value_high_gbp"} <= set(value.columns)
    priced = value[value["gross_per_year_gbp"] > 0]
    assert len(priced) > 0
    assert (priced["value_low_gbp"] < priced["value_central_gbp"]).all()
    assert (priced["value_central_gbp"] < priced["value_high_gbp"]).all()


def test_only_settled_calculate_items_are_priced() -> None:
    items = pd.DataFrame({
        "site_id": "s", "session_date": pd.Timestamp("2017-01-01"), "story_id": ["a", "b", "c"],
        "item": ["x", "y", "z"], "value_kind": ["calculate", "calculate", "calibrate"],
        "visibility": "visible", "settled": ["yes", "no", "yes"],
        "proxy_value_gbp": [100.0, 1000.0, None],
    })  # fmt: skip
    assert calculated_value(items).loc[0, "gross_per_year_gbp"] == 100.0


def test_sensitivity_moves_each_adjustment_both_ways() -> None:
    table = value_sensitivity(1000.0)
    assert set(table["adjustment"]) == {"deadweight", "attribution", "displacement", "drop_off"}
    deadweight = table[table["adjustment"] == "deadweight"].set_index("value")["total_gbp"]
    assert deadweight.loc[0.15] > CENTRAL.value(1000.0) > deadweight.loc[0.35]
