"""Intended versus actual: the documented classification rule, GAS by hand, and
unintended outcomes, on hand-made cases and on the sample programme."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from reval.config import SAMPLE_DATA_DIR
from reval.intended import (
    classify,
    estimates_by_measure,
    gas_by_site,
    gas_level,
    gas_t_score,
    intended_vs_actual,
    unintended_outcomes,
)
from reval.matching.programme import matched_effects
from reval.survey import scored_responses, survey_change

TRUTH = json.loads((SAMPLE_DATA_DIR / "truth.json").read_text())["sites"]


def test_gas_everyone_at_the_expected_level_scores_exactly_50() -> None:
    assert gas_t_score([0, 0, 0], [1, 2, 3]) == 50.0


def test_gas_hand_worked_equal_weights() -> None:
    # 50 + 10 * (1 + 1) / sqrt(0.7 * 2 + 0.3 * 4) = 50 + 20 / sqrt(2.6)
    assert gas_t_score([1, 1], [1, 1]) == pytest.approx(50 + 20 / math.sqrt(2.6), abs=1e-12)
    assert gas_t_score([1, 1], [1, 1]) == pytest.approx(62.4035, abs=1e-4)


def test_gas_hand_worked_unequal_weights() -> None:
    # weights 2 and 1, levels +1 and -1: sum wx = 1; (1 - 0.3) * 5 + 0.3 * 9 = 6.2
    assert gas_t_score([1, -1], [2, 1]) == pytest.approx(50 + 10 / math.sqrt(6.2), abs=1e-12)
    assert gas_t_score([1, -1], [2, 1]) == pytest.approx(54.0161, abs=1e-4)
    assert gas_t_score([-2, -2], [1, 3]) == pytest.approx(
        50 - 10 * 8 / math.sqrt(0.7 * 10 + 0.3 * 16)
    )


def test_gas_level_is_the_nearest_threshold() -> None:
    levels = {"gas_m2": -1.0, "gas_m1": 0.5, "target": 1.0, "gas_p1": 1.5, "gas_p2": 2.0}
    assert gas_level(1.1, levels) == 0
    assert gas_level(1.8, levels) == 1 or gas_level(1.8, levels) == 2
    assert gas_level(5.0, levels) == 2
    assert gas_level(-3.0, levels) == -2
    assert gas_level(1.25, levels) == 0  # equidistant: the lower level


@pytest.mark.parametrize(
    ("estimate", "low", "high", "target", "expected"),
    [
        (2.0, 1.0, 3.0, 1.5, "achieved"),
        (1.0, 0.2, 1.8, 1.5, "partly achieved"),
        (0.5, -0.2, 1.2, 0.3, "not achieved"),
        (-1.0, -1.5, -0.5, 1.0, "reversed"),
        (float("nan"), float("nan"), float("nan"), 1.0, "not measurable"),
    ],
)
def test_classification_rule_uses_the_interval(estimate, low, high, target, expected) -> None:
    assert classify(estimate, low, high, target) == expected


@pytest.fixture(scope="module")
def outcomes(programme) -> pd.DataFrame:
    scored = scored_responses(
        programme.tables["survey_responses"], programme.tables["paradigm_statements"]
    )
    effects, _ = matched_effects(programme.tables["comparison_records"])
    estimates = estimates_by_measure(survey_change(scored), effects)
    return intended_vs_actual(programme.tables["intended_outcomes"], estimates)


def _true_change(site: str, measure: str) -> float:
    truth = TRUTH[site]
    if measure in truth["comparison_att"]:
        return truth["comparison_att"][measure]["att"]
    waves = truth["survey_change_from_baseline"]
    return waves[max(waves, key=int)][measure]


def test_classification_matches_what_the_truth_implies(outcomes) -> None:
    """Where the truth is clearly beyond the target the estimate says achieved; where the
    true change is nil it never claims success; nothing is reversed that truly improved."""
    assert outcomes["classification"].ne("not measurable").all()
    for row in outcomes.itertuples():
        sign = -1.0 if row.direction == "decrease" else 1.0
        true = sign * _true_change(row.site_id, row.measure)
        if true == 0:
            assert row.classification in {"not achieved", "reversed"}, row
        elif true >= 2 * row.target:
            assert row.classification == "achieved", row
        elif true > 0:
            assert row.classification in {"achieved", "partly achieved", "not achieved"}, row
        assert row.signed_ci_low <= true <= row.signed_ci_high, (row.site_id, row.measure, true)


def test_gas_t_per_site(outcomes) -> None:
    table = gas_by_site(outcomes).set_index("site_id")
    assert len(table) == 6
    assert (table["measured"] == table["outcomes"]).all()
    # Morecambe Bay intended wellbeing and A&E changes the programme did not bring about
    assert table.loc["morecambe_bay", "gas_t"] < table.loc["wellbeing_erewash", "gas_t"]


def test_unintended_outcomes_include_unnamed_changes_and_unexpected_stories(
    programme, outcomes
) -> None:
    scored = scored_responses(
        programme.tables["survey_responses"], programme.tables["paradigm_statements"]
    )
    effects, _ = matched_effects(programme.tables["comparison_records"])
    estimates = estimates_by_measure(survey_change(scored), effects)
    found = unintended_outcomes(estimates, programme.tables["intended_outcomes"],
                                programme.tables["harvested_outcomes"],
                                programme.tables["survey_responses"])  # fmt: skip
    measures = found[found["source"] == "measure"]
    # Stockport did not name wellbeing-in-records but its matched comparison shows a clear gain
    assert ("stockport_together", "wellbeing") in set(
        zip(measures["site_id"], measures["what"], strict=True)
    )
    assert (found["source"] == "harvested").sum() == 6 * 3
    stories = found[found["source"] == "story"]
    assert len(stories) > 0
    survey = programme.tables["survey_responses"]
    unexpected = survey[(survey["story_expected"] == "no") & survey["story_text"].notna()]
    withheld = stories["what"] == "(story not shared: no consent)"
    assert len(stories) == len(unexpected)
    assert (
        withheld.sum() == (unexpected["consent_story"] != "yes").sum() > 0
    )  # no story without consent
