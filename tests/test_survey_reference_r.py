"""Cronbach's alpha and the ordinal model against independent R implementations
(psych::alpha and MASS::polr), live when R has them, else from the frozen fixture."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.miscmodels.ordinal_model import OrderedModel

from reval.contract import SWEMWBS_ITEMS, UCLA_ITEMS
from reval.paradigm import cronbach_alpha, ordinal_wave_effect

FROZEN = Path(__file__).parent / "reference" / "survey"
STATEMENT = "community_has_what_it_takes"


def _inputs(programme, folder: Path) -> None:
    survey = programme.tables["survey_responses"]
    base = survey[survey["wave"] == 0]
    base[[*SWEMWBS_ITEMS, *UCLA_ITEMS]].to_csv(folder / "survey_items.csv", index=False)
    gm = survey[(survey["site_id"] == "gm_cancer") & survey["wave"].isin([0, 1])]
    long = gm[["site_id", "respondent_id", "wave", f"para_{STATEMENT}_now"]].dropna()
    both = long.groupby("respondent_id")["wave"].transform("nunique") == 2
    long = long[both].rename(columns={f"para_{STATEMENT}_now": "agreement"})
    long.assign(follow_up=(long["wave"] == 1).astype(int)).to_csv(
        folder / "paradigm_long.csv", index=False
    )


def _r_ready() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(
        ["Rscript", "-e", "library(psych); library(MASS)"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.fixture(scope="module")
def reference(programme, tmp_path_factory) -> Path:
    if not _r_ready():
        if os.environ.get("REVAL_REQUIRE_R") == "1":
            pytest.fail("REVAL_REQUIRE_R=1 but Rscript with psych and MASS is not installed")
        return FROZEN
    out = tmp_path_factory.mktemp("survey_r")
    _inputs(programme, out)
    subprocess.run(["Rscript", str(FROZEN.parent / "survey_reference.R"), str(out)], check=True)
    return out


def test_cronbach_alpha_equals_psych(reference) -> None:
    items = pd.read_csv(reference / "survey_items.csv")
    expected = pd.read_csv(reference / "r_alpha.csv").set_index("battery")["alpha"]
    assert cronbach_alpha(items[list(SWEMWBS_ITEMS)]) == pytest.approx(
        expected["swemwbs"], abs=1e-10
    )
    assert cronbach_alpha(items[list(UCLA_ITEMS)]) == pytest.approx(expected["ucla3"], abs=1e-10)


def test_ordinal_model_equals_mass_polr(reference) -> None:
    long = pd.read_csv(reference / "paradigm_long.csv")
    expected = pd.read_csv(reference / "r_polr.csv").set_index("term")["value"]
    ours = ordinal_wave_effect(long)
    assert np.log(ours["odds_ratio"]) == pytest.approx(expected["follow_up"], abs=1e-4)
    # the thresholds too: statsmodels stores the first cut and log-increments
    endog = pd.Series(pd.Categorical(long["agreement"], ordered=True))
    fit = OrderedModel(endog, long[["follow_up"]].astype(float), distr="logit").fit(
        method="bfgs", disp=False
    )
    cuts = fit.model.transform_threshold_params(fit.params)[1:-1]
    assert np.allclose(cuts, expected.drop("follow_up").to_numpy(), atol=1e-4)


def test_frozen_inputs_are_the_sample_programmes(programme, tmp_path) -> None:
    """The fallback fixture was made from the committed sample data."""
    _inputs(programme, tmp_path)
    for name in ("survey_items.csv", "paradigm_long.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), pd.read_csv(FROZEN / name))
