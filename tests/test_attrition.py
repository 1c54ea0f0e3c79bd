"""Attrition: retention, stayers versus leavers, and the inverse-probability-of-retention
weighted change, checked by hand and against a sample programme whose dropout depends on
baseline wellbeing (truth known for the whole baseline cohort)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reval.attrition import (
    AT_RISK,
    attrition,
    attrition_rows,
    pooled_attrition,
    weighted_change,
    welch_difference,
    wilson_interval,
)
from reval.survey import scored_responses, survey_change
from reval.synthetic_programme import synthetic_programme


def test_wilson_interval_by_hand() -> None:
    # 60 of 100: centre (0.6 + 1.92^2/200) / (1 + 1.96^2/100)
    low, high = wilson_interval(60, 100)
    assert low == pytest.approx(0.5020, abs=1e-4)
    assert high == pytest.approx(0.6906, abs=1e-4)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_welch_difference_matches_scipy() -> None:
    from scipy import stats

    a, b = np.array([3.0, 4, 5, 6, 7]), np.array([1.0, 2, 2, 3])
    diff, low, high = welch_difference(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(3.0)
    assert (low, high) == pytest.approx((ci.low, ci.high))


def test_weighted_change_equal_weights_is_the_mean() -> None:
    diff = np.array([1.0, 2.0, 3.0, 4.0])
    mean, low, high = weighted_change(diff, np.ones(4))
    assert mean == 2.5
    # sandwich SE with equal weights = sample SD / sqrt(n)
    assert (high - low) / 2 == pytest.approx(1.959964 * diff.std(ddof=1) / 2, rel=1e-6)


@pytest.fixture(scope="module")
def selective_programme() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    programme = synthetic_programme(dropout_on_wellbeing=1.0)
    responses = programme.tables["survey_responses"]
    scored = scored_responses(responses, programme.tables["paradigm_statements"])
    return scored, responses, programme.truth["sites"]


@pytest.fixture(scope="module")
def selective(selective_programme) -> tuple[pd.DataFrame, dict]:
    scored, responses, truth = selective_programme
    return attrition(scored, responses), truth


def test_weighted_change_recovers_the_whole_cohort_and_completers_are_flagged(selective) -> None:
    """Dropout depends on baseline wellbeing and the worse-off gain more: the change among
    completers understates the change for everyone who started; weighting for who stayed
    recovers it, and every completers' wellbeing change is flagged at risk."""
    table, truth = selective
    wellbeing = table[table["measure"] == "swemwbs"]
    assert len(wellbeing) == 8  # six sites, two with a second follow-up
    completers_error, weighted_error = [], []
    for row in wellbeing.itertuples():
        true = truth[row.site_id]["survey_change_from_baseline"][str(row.wave)][
            "whole_baseline_cohort"]["swemwbs"]  # fmt: skip
        assert row.at_risk, row
        assert row.message == AT_RISK
        assert row.stayers_minus_leavers > 0  # the worse-off left
        assert row.ipw_low <= true <= row.ipw_high, (row.site_id, row.wave, true)
        completers_error.append(row.completers_change - true)
        weighted_error.append(row.ipw_change - true)
    assert all(e < 0 for e in completers_error)  # completers understate, every time
    assert np.mean(np.abs(weighted_error)) < 0.5 * np.mean(np.abs(completers_error))
    assert abs(np.mean(weighted_error)) < 0.15


def test_all_sites_together_count_the_sites_that_ran_the_wave(
    selective_programme, selective
) -> None:
    """The pooled line adds up the sites that ran each wave (a site with no second
    follow-up adds nobody to wave 2's baseline), and its weighted change recovers the whole
    baseline cohort's change across those sites while the completers' understates it."""
    scored, responses, truth = selective_programme
    sites, _ = selective
    pooled = pooled_attrition(scored, responses, pooled="all")
    assert set(pooled["site_id"]) == {"all"}
    errors = []
    for row in pooled[pooled["measure"] == "swemwbs"].itertuples():
        mine = sites[(sites["measure"] == "swemwbs") & (sites["wave"] == row.wave)]
        assert row.baseline_n == mine["baseline_n"].sum()
        assert row.followed_n == mine["followed_n"].sum()
        assert row.retention == pytest.approx(row.followed_n / row.baseline_n)
        cohorts = [truth[s]["survey_change_from_baseline"][str(row.wave)]["whole_baseline_cohort"]
                   for s in mine["site_id"]]  # fmt: skip
        true = sum(c["respondents"] * c["swemwbs"] for c in cohorts) / sum(
            c["respondents"] for c in cohorts
        )
        assert row.at_risk
        assert row.completers_change < true
        assert row.ipw_low <= true <= row.ipw_high, (row.wave, true)
        assert abs(row.ipw_change - true) < abs(row.completers_change - true)
        errors.append((row.ipw_change - true, row.completers_change - true))
    weighted, completers = np.abs(np.array(errors)).mean(axis=0)
    assert weighted < 0.5 * completers
    # wave 2 was run by two sites only, wave 1 by all six
    by_wave = pooled[pooled["measure"] == "swemwbs"].set_index("wave")["baseline_n"]
    assert by_wave[2] < by_wave[1]


def test_shipped_sample_has_no_attrition_alarm(programme) -> None:
    """In the shipped sample dropout depends on age and deprivation only, mildly: no site's
    wellbeing change is flagged, and weighting barely moves it."""
    responses = programme.tables["survey_responses"]
    scored = scored_responses(responses, programme.tables["paradigm_statements"])
    table = attrition(scored, responses)
    assert not table["at_risk"].any()
    assert (table["ipw_change"] - table["completers_change"]).abs().max() < 0.1
    # the completers' change is the survey change itself: same people, same number
    change = survey_change(scored, measures=("swemwbs", "ucla3"))
    merged = table.merge(change, on=["site_id", "measure", "wave"])
    assert len(merged) == len(table)
    assert np.allclose(merged["completers_change"], merged["estimate"])
    assert (merged["followed_n"] == merged["n"]).all()
    assert ((merged["retention"] > 0.5) & (merged["retention"] < 0.8)).all()


def test_attrition_rows_carry_retention_and_the_flag() -> None:
    table = pd.DataFrame([{
        "site_id": "s", "measure": "swemwbs", "wave": 1, "baseline_n": 100, "followed_n": 60,
        "retention": 0.6, "retention_low": 0.5, "retention_high": 0.7,
        "stayers_minus_leavers": 2.0, "difference_low": 1.0, "difference_high": 3.0,
        "leavers_n": 40, "completers_change": 1.0, "ipw_change": 1.5, "ipw_low": 1.0,
        "ipw_high": 2.0, "at_risk": True, "message": AT_RISK}])  # fmt: skip
    rows = {r["kind"]: r for r in attrition_rows(table)}
    assert rows["retention"]["estimate"] == 0.6
    assert rows["retention"]["n"] == 100
    assert rows["stayers_vs_leavers"]["n"] == 40
    assert rows["ipw_change"]["message"] == AT_RISK
