"""reval's matching against R's MatchIt on lalonde: the same pairs, ATT and
cluster-robust SE to 1e-6.

The reference comes from tests/reference/matchit_reference.R: run live when R with
MatchIt and sandwich is installed (CI installs them; REVAL_REQUIRE_R=1 makes their
absence a failure), otherwise read from the frozen files that script wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reval.matching import balance, effect, match

FROZEN = Path(__file__).parent / "reference"
COVARIATES = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]
CONFIGS = {
    "probability": {"distance": "probability"},
    "logit_caliper": {"distance": "logit", "caliper": 0.2},
}


def r_with_matchit() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "library(MatchIt); library(sandwich)"],
                           capture_output=True, check=False)  # fmt: skip
    return probe.returncode == 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    if not r_with_matchit():
        if os.environ.get("REVAL_REQUIRE_R") == "1":
            pytest.fail("REVAL_REQUIRE_R=1 but Rscript with MatchIt and sandwich is not installed")
        return FROZEN
    out = tmp_path_factory.mktemp("matchit")
    subprocess.run(["Rscript", str(FROZEN / "matchit_reference.R"), str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def lalonde(reference: Path) -> pd.DataFrame:
    return pd.read_csv(reference / "lalonde.csv")


@pytest.mark.parametrize("config", CONFIGS)
def test_same_matched_pairs_as_matchit(reference, lalonde, config) -> None:
    sample = match(lalonde, "treat", COVARIATES, **CONFIGS[config])
    expected = pd.read_csv(reference / f"matchit_{config}_pairs.csv").dropna().astype(int)
    ours = sample.pairs[["treated_row", "control_row"]]
    assert ours.sort_values("treated_row").to_numpy().tolist() == (
        expected.sort_values("treated_row").to_numpy().tolist()
    )


@pytest.mark.parametrize("config", CONFIGS)
def test_att_and_cluster_robust_se_equal_matchit(reference, lalonde, config) -> None:
    sample = match(lalonde, "treat", COVARIATES, **CONFIGS[config])
    ours = effect(sample, "re78")
    expected = pd.read_csv(reference / f"matchit_{config}_effect.csv").iloc[0]
    assert abs(ours.estimate - expected["att"]) < 1e-6
    assert abs(ours.se - expected["se"]) < 1e-6
    assert ours.n_matched_treated + ours.n_matched_control == expected["n_matched"]
    if not np.isnan(expected["caliper_width"]):
        assert abs(sample.caliper_width - expected["caliper_width"]) < 1e-6


@pytest.mark.parametrize("config", CONFIGS)
def test_balance_table_uses_matchits_conventions(reference, lalonde, config) -> None:
    sample = match(lalonde, "treat", COVARIATES, **CONFIGS[config])
    ours = balance(sample).set_index("covariate")
    expected = pd.read_csv(reference / f"matchit_{config}_balance.csv").set_index("term")
    columns = ["smd_before", "smd_after", "var_ratio_before", "var_ratio_after",
               "ecdf_mean_before", "ecdf_max_before", "ecdf_mean_after", "ecdf_max_after"]  # fmt: skip
    got = ours.loc[expected.index, columns].to_numpy(dtype=float)
    want = expected[columns].to_numpy(dtype=float)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.nanmax(np.abs(got - want)) < 1e-6


def test_matchit_vector_path_truncates_distances_and_reval_does_not(reference, lalonde) -> None:
    """Why the reference uses MatchIt's distance-matrix path: its propensity-score path
    (Debian's MatchIt 4.5.1) lets pairs through that are wider than the caliper."""
    sample = match(lalonde, "treat", COVARIATES, distance="logit", caliper=0.2)
    pairs = pd.read_csv(reference / "matchit_logit_caliper_vector_pairs.csv").dropna().astype(int)
    gaps = np.abs(sample.distance[pairs["treated_row"]] - sample.distance[pairs["control_row"]])
    assert (gaps > sample.caliper_width).any()
    ours = np.abs(
        sample.distance[sample.pairs["treated_row"]] - sample.distance[sample.pairs["control_row"]]
    )
    assert (ours <= sample.caliper_width).all()


def test_frozen_reference_is_what_the_r_script_writes(reference) -> None:
    """A live run must reproduce the committed fixture, so the fallback never goes stale."""
    for path in sorted(FROZEN.glob("*.csv")):
        fresh = pd.read_csv(reference / path.name)
        frozen = pd.read_csv(path)
        pd.testing.assert_frame_equal(fresh, frozen, rtol=1e-9, check_exact=False)


def _controls_by_treated(frame: pd.DataFrame) -> dict[int, list[int]]:
    return {int(row.treated_row): sorted(int(c) for c in row[1:] if not pd.isna(c))
            for row in frame.itertuples(index=False)}  # fmt: skip


def test_with_replacement_ratio_2_differs_from_matchit_only_within_ties(reference, lalonde) -> None:
    """Each participant's two controls are MatchIt's, or equally close ones: MatchIt picks
    among equally close controls by where C++'s unstable std::partial_sort leaves them,
    reval by the earliest row (the rule the engine is held to in test_matching_engine)."""
    sample = match(lalonde, "treat", COVARIATES, distance="probability", ratio=2, replace=True)
    ours = {int(t): sorted(int(c) for c in group)
            for t, group in sample.pairs.groupby("treated_row")["control_row"]}  # fmt: skip
    theirs = _controls_by_treated(
        pd.read_csv(reference / "matchit_probability_replace_ratio2_pairs.csv")
    )
    assert ours.keys() == theirs.keys()
    d = sample.distance
    controls = np.flatnonzero(~sample.treated)
    for t in ours:  # the same distances, whichever controls carry them
        gaps = [sorted(abs(d[t] - d[c]) for c in chosen) for chosen in (ours[t], theirs[t])]
        assert gaps[0] == gaps[1], t
        for c in set(ours[t]) - set(theirs[t]):  # a tie: reval took the earliest row of it
            tied = [r for r in controls if abs(d[t] - d[r]) == abs(d[t] - d[c])]
            assert c == min(r for r in tied if r == c or r not in ours[t]), (t, c, tied)


def _gnu_partial_sort(items: list[int], middle: int, less) -> None:  # type: ignore[no-untyped-def]
    """GNU libstdc++'s std::partial_sort (heap select, then heap sort), step for step: what
    MatchIt's nn_matchC.cpp calls to take a unit's closest controls with replacement."""

    def adjust(hole: int, length: int, value: int) -> None:
        top = second = hole
        while second < (length - 1) // 2:
            second = 2 * (second + 1)
            if less(items[second], items[second - 1]):
                second -= 1
            items[hole], hole = items[second], second
        if length % 2 == 0 and second == (length - 2) // 2:
            second = 2 * (second + 1)
            items[hole], hole = items[second - 1], second - 1
        parent = (hole - 1) // 2
        while hole > top and less(items[parent], value):
            items[hole], hole, parent = items[parent], parent, (parent - 1) // 2
        items[hole] = value

    def pop(last: int, result: int) -> None:
        value, items[result] = items[result], items[0]
        adjust(0, last, value)

    for parent in range((middle - 2) // 2, -1, -1):  # make_heap
        adjust(parent, middle, items[parent])
    for i in range(middle, len(items)):
        if less(items[i], items[0]):
            pop(middle, i)
    for last in range(middle - 1, 0, -1):  # sort_heap
        pop(last, last)


def test_a_constructed_tie_with_replacement_earliest_row_here_another_in_matchit(
    reference,
) -> None:
    """A participant at 0.5; controls 0.375, 0.25, 0.25 and 0.125 away, in data order. Both
    take the closest and one of the tied pair: reval the earliest row (2), as MatchIt says
    ties go ("based on the order of the data"), MatchIt the later (3), because its
    std::partial_sort is not stable: it is exactly where GNU's heap leaves them."""
    from reval.matching._nearest import greedy_match

    distance = np.array([0.5, 0.875, 0.25, 0.75, 0.375, 0.0625])
    treated = np.array([True, False, False, False, False, True])
    ours = greedy_match(distance, treated, np.array([0, 5]), ratio=2, replace=True)
    assert [sorted(row) for row in ours.tolist()] == [[2, 4], [2, 4]]
    pairs = pd.read_csv(reference / "matchit_tie_replace_ratio2_pairs.csv")
    assert _controls_by_treated(pairs) == {0: [3, 4], 5: [2, 4]}
    controls = np.flatnonzero(~treated)
    for row in pairs.itertuples(index=False):
        gaps = np.abs(distance[controls] - distance[row.treated_row])
        order = list(range(len(controls)))
        _gnu_partial_sort(order, 2, lambda i, j, g=gaps: g[i] < g[j])
        assert controls[order[:2]].tolist() == [row.control_row_1, row.control_row_2]
