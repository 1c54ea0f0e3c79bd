"""Disclosure control: no count below 5 can be read or worked out from a table."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from reval.reporting.disclosure import (
    SUPPRESSED,
    consented_stories,
    suppress_counts,
    withhold_small_estimates,
)


def _derivable(shown: pd.DataFrame) -> list[tuple[str, str]]:
    """Cells a reader could work out by subtracting the shown cells from a shown total."""
    body = shown.drop(index="Total", columns="Total")
    found = []
    for label, row in body.iterrows():
        if (row == SUPPRESSED).sum() == 1 and shown.loc[label, "Total"] != SUPPRESSED:
            found.append((label, row.index[row == SUPPRESSED][0]))
    for column in body.columns:
        col = body[column]
        if (col == SUPPRESSED).sum() == 1 and shown.loc["Total", column] != SUPPRESSED:
            found.append((col.index[col == SUPPRESSED][0], column))
    return found


def test_small_counts_are_hidden_and_totals_cannot_reveal_them() -> None:
    table = pd.DataFrame(
        {"visible": [12, 3, 20], "invisible": [9, 15, 7]},
        index=["calculate", "calibrate", "capacitate"],
    )
    shown = suppress_counts(table)
    assert shown.loc["calibrate", "visible"] == SUPPRESSED
    assert _derivable(shown) == []
    assert shown.loc["Total", "Total"] == "66"
    # no number under 5 appears anywhere
    numbers = [int(v) for v in shown.to_numpy().ravel() if v != SUPPRESSED]
    assert min(numbers) >= 5


def test_secondary_suppression_holds_on_many_random_tables() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        table = pd.DataFrame(
            rng.integers(0, 15, size=(3, 4)), index=list("abc"), columns=list("wxyz")
        )
        shown = suppress_counts(table)
        assert _derivable(shown) == [], (table, shown)
        cells = shown.drop(index="Total", columns="Total").to_numpy()
        for i, j in itertools.product(range(3), range(4)):
            if table.iat[i, j] < 5:
                assert cells[i, j] == SUPPRESSED


def test_zero_is_a_count_below_five_too() -> None:
    shown = suppress_counts(pd.DataFrame({"a": [0, 10], "b": [10, 10]}), totals=False)
    assert shown.iat[0, 0] == SUPPRESSED


def test_estimates_on_fewer_than_five_people_are_withheld() -> None:
    results = pd.DataFrame({"estimate": [1.2, 0.4], "ci_low": [0.1, -1.0], "ci_high": [2.0, 1.8], "n": [40, 3],
                            "status": ["ok", "ok"]})  # fmt: skip
    out = withhold_small_estimates(results)
    assert out.loc[0, "estimate"] == 1.2
    assert np.isnan(out.loc[1, "estimate"])
    assert out.loc[1, "n"] == SUPPRESSED
    assert out.loc[1, "status"] == "withheld: fewer than 5 people"


def test_only_consented_stories(programme) -> None:
    shown = consented_stories(programme.tables["survey_responses"])
    assert len(shown) > 0
    assert set(shown["consent_story"]) == {"yes"}


def test_counts_of_one_to_four_are_shown_as_under_five() -> None:
    from reval.reporting.content import count_text

    assert [count_text(n) for n in (0, 1, 4, 5, 120)] == ["0", "<5", "<5", "5", "120"]
    assert count_text(None) == "-"


def test_small_answer_groups_fold_into_neither_or_withhold_the_bar() -> None:
    from reval.paradigm import agreement_counts
    from reval.reporting.content import statement_shares

    statements = pd.DataFrame({"item": ["x"], "statement": ["X"], "paradigm": ["new"]})
    answers = [1, 1, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5]  # 2 disagree: too few to show
    responses = pd.DataFrame({"site_id": "s", "wave": 0, "para_x_now": answers})
    (row,) = statement_shares(agreement_counts(responses, statements), statements).itertuples()
    assert row.shown
    assert row.folded
    assert (row.disagree, row.neither, row.agree) == (0, 7 / 13, 6 / 13)
    tiny = pd.DataFrame({"site_id": "s", "wave": 0, "para_x_now": [1, 3, 5, 5, 5, 5, 5]})
    (row,) = statement_shares(agreement_counts(tiny, statements), statements).itertuples()
    assert not row.shown  # 'neither' would still be 2 people
    assert pd.isna(row.agree)


def test_gas_scores_rest_on_outcomes_not_people_and_are_not_withheld() -> None:
    results = pd.DataFrame({
        "kind": ["gas_t", "survey_change"], "estimate": [55.0, 1.2], "ci_low": [None, 0.5],
        "ci_high": [None, 1.9], "n": [3, 3], "status": ["ok", "ok"],
    })  # fmt: skip
    shown = withhold_small_estimates(results)
    assert shown["estimate"].tolist()[0] == 55.0
    assert pd.isna(shown["estimate"].tolist()[1])
    assert shown["status"].tolist() == ["ok", "withheld: fewer than 5 people"]
