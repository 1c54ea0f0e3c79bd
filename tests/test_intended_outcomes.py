"""Intended versus actual: the documented classification rule, GAS by hand, and
unintended outcomes, on hand-made cases and on the sample programme."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from reval.config import SAMPLE_DATA_DIR
from reval.intended import (
    VERDICT_RULES,
    VERDICTS,
    benjamini_hochberg,
    classify,
    estimates_by_measure,
    gas_assessment,
    gas_by_site,
    gas_level,
    gas_t_score,
    intended_vs_actual,
    no_change_p_value,
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
        (1.0, 0.2, 1.4, 1.5, "partly achieved"),
        # clear of zero and the interval reaches the target: consistent with achieving it
        (1.0, 0.2, 1.8, 1.5, "achieved"),
        (-1.0, -1.5, -0.5, 1.0, "reversed"),
        (float("nan"), float("nan"), float("nan"), 1.0, "not measurable"),
        # the cases: a tight interval around the target is achieved, not "partly"
        (1.99, 1.80, 2.18, 2.0, "achieved"),
        # a wide interval that only just clears zero is achieved, and the FDR flag says more
        (2.00, 0.01, 3.99, 2.0, "achieved"),
        # short of the target with the whole interval below it: partly
        (1.2, 0.9, 1.5, 2.0, "partly achieved"),
        # an interval tight round zero (margin = half the target = 1): no change shown
        (0.1, -0.4, 0.6, 2.0, "no change shown"),
        # an underpowered estimate of twice the target: inconclusive, not "no change"
        (4.0, -0.5, 8.5, 2.0, "inconclusive"),
        (0.5, -0.2, 1.2, 0.3, "inconclusive"),
        # the wrong-way wellbeing: reversed
        (-0.63, -0.92, -0.35, 2.0, "reversed"),
    ],
)
def test_verdict_rule_uses_the_interval(estimate, low, high, target, expected) -> None:
    assert classify(estimate, low, high, target) == expected


def test_no_change_margin_is_the_sites_own_when_given() -> None:
    assert classify(0.1, -0.4, 0.6, 2.0, margin=0.5) == "inconclusive"
    assert classify(0.1, -0.4, 0.6, 2.0, margin=0.7) == "no change shown"


def test_every_verdict_has_a_plain_rule() -> None:
    assert set(VERDICT_RULES) == set(VERDICTS)
    assert all(len(rule.split()) > 5 for rule in VERDICT_RULES.values())


def test_gas_derived_scale_without_thresholds() -> None:
    """Turner-Stokes's default: -2 against, -1 no change or short, 0 target, +1/+2 beyond,
    each claimed only where the interval supports it."""

    def level(e, lo, hi, target=2.0):
        return gas_assessment(classify(e, lo, hi, target), e, lo, hi, target, {})

    assert level(-0.63, -0.92, -0.35) == (-2, "derived")
    assert level(0.1, -0.4, 0.6) == (-1, "derived")
    assert level(1.2, 0.9, 1.5) == (-1, "derived")
    assert level(1.99, 1.80, 2.18) == (0, "derived")
    assert level(3.0, 2.5, 3.5) == (1, "derived")
    assert level(5.0, 4.5, 5.5) == (2, "derived")
    # the 4 (-0.5 to 8.5): no level, not +2
    assert level(4.0, -0.5, 8.5) == (None, "inconclusive")
    assert gas_assessment("not measurable", math.nan, math.nan, math.nan, 2.0, {}) == (
        None, "not measurable")  # fmt: skip


def test_gas_site_scale_needs_the_interval_within_one_level() -> None:
    scale = {"gas_m2": -2.0, "gas_m1": 1.0, "gas_p1": 3.0, "gas_p2": 4.0}
    assert gas_assessment("achieved", 2.1, 1.7, 2.6, 2.0, scale) == (0, "site scale")
    assert gas_assessment("inconclusive", 4.0, -0.5, 8.5, 2.0, scale) == (None, "inconclusive")


def test_gas_one_threshold_never_puts_a_reversal_at_the_target() -> None:
    """With only gas_p1 given, the old nearest-threshold rule put -0.63 at level 0."""
    level, basis = gas_assessment("reversed", -0.63, -0.92, -0.35, 2.0, {"gas_p1": 3.0})
    assert level is not None
    assert level < 0
    assert basis == "site scale, gaps derived"


def _outcomes(rows: list[tuple]) -> pd.DataFrame:
    intended = pd.DataFrame(
        [{"site_id": "s", "outcome_id": f"io{i}", "measure": m, "direction": d, "target": t,
          "weight": 1.0} for i, (m, d, t, *_rest) in enumerate(rows)]
    )  # fmt: skip
    estimates = pd.DataFrame(
        [{"site_id": "s", "measure": m, "wave": 1, "estimate": e, "ci_low": lo, "ci_high": hi,
          "n": 50, "source": "survey_change"} for m, _d, _t, e, lo, hi in rows]
    )  # fmt: skip
    return intended_vs_actual(intended, estimates)


def test_reversed_outcome_with_target_only_pulls_t_below_50() -> None:
    """The issue's case: only targets, wellbeing fell clearly (-0.63), the rest on target.
    The old rule gave every outcome level 0 and T = 50."""
    outcomes = _outcomes([
        ("swemwbs", "increase", 2.0, -0.63, -0.92, -0.35),
        ("ucla3", "decrease", 0.5, -0.5, -0.7, -0.3),
    ])  # fmt: skip
    by_measure = outcomes.set_index("measure")
    assert by_measure.loc["swemwbs", "classification"] == "reversed"
    assert by_measure.loc["swemwbs", "gas_level"] == -2
    assert by_measure.loc["swemwbs", "gas_basis"] == "derived"
    assert by_measure.loc["ucla3", "gas_level"] == 0
    gas = gas_by_site(outcomes).iloc[0]
    assert gas["gas_t"] < 50
    assert gas["gas_t"] == pytest.approx(gas_t_score([-2, 0], [1, 1]))
    assert "derived" in gas["note"]


def test_inconclusive_levels_are_left_out_of_t_with_a_note() -> None:
    outcomes = _outcomes([
        ("swemwbs", "increase", 2.0, 4.0, -0.5, 8.5),
        ("ucla3", "decrease", 0.5, -0.5, -0.7, -0.3),
    ])  # fmt: skip
    gas = gas_by_site(outcomes).iloc[0]
    assert gas["measured"] == 1
    assert gas["outcomes"] == 2
    assert gas["gas_t"] == 50.0  # the one supported level is on target
    assert "io0 (inconclusive)" in gas["note"]


def test_no_site_with_only_targets_gets_50_for_nothing() -> None:
    """Every outcome inconclusive: no T at all, not a neutral 50."""
    outcomes = _outcomes([("swemwbs", "increase", 2.0, 1.0, -3.0, 5.0)])
    assert math.isnan(gas_by_site(outcomes).iloc[0]["gas_t"])


def test_not_measurable_says_why() -> None:
    intended = pd.DataFrame([{"site_id": "s", "outcome_id": "io1", "measure": "ae_visits",
                              "direction": "decrease", "target": 0.2, "weight": 1.0}])  # fmt: skip
    estimates = estimates_by_measure(pd.DataFrame(), pd.DataFrame())
    row = intended_vs_actual(intended, estimates).iloc[0]
    assert row["classification"] == "not measurable"
    assert "no estimate for ae_visits" in row["why_not_measurable"]


def test_benjamini_hochberg_by_hand_and_flag() -> None:
    # p = 0.01, 0.04, 0.03, 0.2 -> sorted 0.01, 0.03, 0.04, 0.2; x m/rank = 0.04, 0.06, 0.0533, 0.2
    adjusted = benjamini_hochberg(pd.Series([0.01, 0.04, 0.03, 0.2, math.nan]))
    expected = [0.04, 0.16 / 3, 0.16 / 3, 0.2]
    assert adjusted.iloc[:4].tolist() == pytest.approx(expected)
    assert math.isnan(adjusted.iloc[4])
    # 2.00 (0.01 to 3.99) has p just under 0.05 alone, so among others it fails the FDR check
    assert no_change_p_value(2.0, 0.01, 3.99) == pytest.approx(0.049, abs=0.002)
    outcomes = _outcomes([
        ("swemwbs", "increase", 2.0, 2.0, 0.01, 3.99),
        ("ucla3", "decrease", 0.5, -0.1, -0.5, 0.3),
        ("paradigm_index", "increase", 0.3, 0.05, -0.2, 0.3),
    ])  # fmt: skip
    row = outcomes.set_index("measure").loc["swemwbs"]
    assert row["classification"] == "achieved"
    assert row["fdr_flag"]
    assert not outcomes.set_index("measure").loc["ucla3", "fdr_flag"]  # not a clear verdict


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
            assert row.classification in {"no change shown", "inconclusive", "reversed"}, row
        elif true >= 2 * row.target:
            assert row.classification == "achieved", row
        elif true > 0:
            assert row.classification in {"achieved", "partly achieved", "inconclusive"}, row
        assert row.signed_ci_low <= true <= row.signed_ci_high, (row.site_id, row.measure, true)


def test_gas_t_per_site(outcomes) -> None:
    table = gas_by_site(outcomes).set_index("site_id")
    assert len(table) == 6
    assert (table["measured"] <= table["outcomes"]).all()
    assert table["measured"].sum() >= 18
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


def test_verdicts_and_gas_levels_that_read_differently_are_explained() -> None:
    """'Achieved' beside GAS -1 (or 'inconclusive' beside a level) looks like a contradiction
    to a funder: each such outcome is named under one sentence saying why; levels derived
    from the verdict never need one."""
    from reval.reporting.content import gas_verdict_notes, verdict_rules

    rows = [  # statement, verdict, level, basis
        ("Above the bar", "achieved", -1, "site scale"),
        ("Short but level", "partly achieved", 0, "site scale, gaps derived"),
        ("Too wide for a level", "achieved", None, "inconclusive"),
        ("Unclear but levelled", "inconclusive", -1, "site scale"),
        ("Agreeing", "achieved", 1, "site scale"),
        ("Derived", "reversed", -2, "derived"),
    ]
    intended = pd.DataFrame({
        "site_id": "s", "outcome_id": [f"o{i}" for i in range(len(rows))],
        "statement": [r[0] for r in rows], "classification": [r[1] for r in rows],
        "gas_level": pd.array([r[2] for r in rows], dtype="Int64"),
        "gas_basis": [r[3] for r in rows],
    })  # fmt: skip
    notes = gas_verdict_notes(intended)
    assert len(notes) == 4
    expected = {"Achieved, yet": "Above the bar", "Partly achieved, yet": "Short but level",
                "A clear verdict with no GAS level": "Too wide for a level",
                "Inconclusive, yet": "Unclear but levelled"}  # fmt: skip
    for start, statement in expected.items():
        (note,) = [n for n in notes if n.startswith(start)]
        assert f"\u201c{statement}\u201d" in note
    assert not any("Agreeing" in n or "Derived" in n for n in notes)
    assert notes == verdict_rules(intended)[-4:]  # shown with the verdict rules


def test_only_a_sites_own_no_change_margin_is_listed() -> None:
    """Half the target is said once as the rule; a margin a site set itself is listed by
    its statement (listing every outcome's half-target filled a page of the report)."""
    from reval.reporting.content import verdict_rules

    intended = pd.DataFrame({
        "site_id": "s", "outcome_id": ["a", "b"], "statement": ["Feel better", "Less lonely"],
        "measure": ["swemwbs", "ucla3"], "classification": ["achieved", "inconclusive"],
        "target": [1.0, 0.4], "margin": [0.5, 0.1],
    })  # fmt: skip
    (line,) = [r for r in verdict_rules(intended) if r.startswith("No-change margin")]
    assert "half the target" in line
    assert "\u201cLess lonely\u201d ±0.1" in line
    assert "Feel better" not in line
    (line,) = [r for r in verdict_rules(intended.assign(margin=[0.5, 0.2]))
               if r.startswith("No-change margin")]  # fmt: skip
    assert line == "No-change margin: a change smaller than half the target counts as no change."
