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
