"""Every way matching can fail says what went wrong and what to try."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from reval.cli import app
from reval.matching import MatchingError, match
from tests.test_matching_reference_r import FROZEN


@pytest.fixture
def people() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    age = rng.normal(50, 10, n)
    treated = (rng.random(n) < 1 / (1 + np.exp(-(age - 50) / 10))).astype(int)
    return pd.DataFrame({"treated": treated, "age": age, "ltc": rng.poisson(1, n),
                         "region": rng.choice(["north", "south"], n), "y": rng.normal(0, 1, n)})  # fmt: skip


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        (lambda d: d.assign(treated=d["treated"].replace({1: 2})), "treatment_not_binary",
         "must be 1 for participants and 0 for the comparison pool"),
        (lambda d: d.assign(treated=d["treated"].astype(float).where(d.index > 0)), "treatment_not_binary",
         "with no blanks"),
        (lambda d: d.assign(treated=0), "no_treated", "there are no participants to match"),
        (lambda d: d.assign(treated=1), "no_controls", "there is no comparison pool"),
        (lambda d: d.assign(ltc=2), "covariate_constant", "'ltc' is the same (2) for everyone"),
        (lambda d: d.assign(region="north"), "covariate_constant", "'region' takes a single value"),
        (lambda d: d.assign(ltc=np.nan), "covariate_missing", "'ltc' is missing for every row"),
        (lambda d: d.assign(age=np.where(d["treated"] == 1, 90.0, 20.0) + d.index * 1e-3),
         "perfect_separation", "predict taking part perfectly"),
    ],
)  # fmt: skip
def test_refusals_name_the_problem_and_the_fix(people, change, reason, words) -> None:
    with pytest.raises(MatchingError) as caught:
        match(change(people), "treated", ["age", "ltc", "region"])
    assert caught.value.reason == reason
    assert words in str(caught.value)


def test_no_matches_inside_the_caliper(people) -> None:
    lonely = people.assign(region=np.where(people["treated"] == 1, "north", "south"))
    with pytest.raises(MatchingError, match="No participant found a comparison") as caught:
        match(lonely, "treated", ["age"], exact=["region"])
    assert caught.value.reason == "no_matches"
    assert "Widen the caliper" in str(caught.value)


def test_cli_match_prints_the_documented_json() -> None:
    result = CliRunner().invoke(app, [
        "match", "--data", str(FROZEN / "lalonde.csv"), "--treatment", "treat",
        "--covariates", "age,educ,race,married,nodegree,re74,re75", "--outcome", "re78",
        "--distance", "logit", "--caliper", "0.2", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) >= {"att", "se", "ci_low", "ci_high", "p_value", "e_value", "n_treated",
                        "n_control", "n_matched_treated", "n_matched_control", "balance"}  # fmt: skip
    expected = pd.read_csv(FROZEN / "matchit_logit_caliper_effect.csv").iloc[0]
    assert abs(out["att"] - expected["att"]) < 1e-6
    assert out["ci_low"] < out["att"] < out["ci_high"]
    assert {row["covariate"] for row in out["balance"]} >= {"age", "raceblack", "re75"}
    black = next(row for row in out["balance"] if row["covariate"] == "raceblack")
    assert black["var_ratio_after"] is None  # not defined for a 0/1 variable: null, never NaN


def test_cli_match_error_is_plain_and_exits_1(tmp_path) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame({"t": [0, 0, 0], "x": [1, 2, 3], "y": [1, 1, 1]}).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["match", "--data", str(path), "--treatment", "t",
                                      "--covariates", "x", "--outcome", "y"])  # fmt: skip
    assert result.exit_code == 1
    assert "no participants to match" in result.output
    assert "Traceback" not in result.output
