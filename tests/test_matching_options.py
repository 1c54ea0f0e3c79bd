"""Matching options beyond the MatchIt cross-check: Mahalanobis, replacement, ratio,
common support, exact groups, and E-values by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reval.matching import balance, e_value, effect, match


@pytest.fixture
def people() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 300
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    treated = (rng.random(n) < 1 / (1 + np.exp(-(x1 - 1.2)))).astype(int)
    y = 1.0 + x1 + 0.5 * x2 + 2.0 * treated + rng.normal(size=n)
    return pd.DataFrame({"t": treated, "x1": x1, "x2": x2, "y": y,
                         "region": rng.choice(["a", "b"], n)})  # fmt: skip


def test_e_values_by_hand() -> None:
    # VanderWeele & Ding: E = RR + sqrt(RR (RR - 1)); protective ratios are inverted
    assert e_value(2.0, 1.5, 2.7, scale="ratio") == pytest.approx(
        (2 + np.sqrt(2), 1.5 + np.sqrt(0.75))
    )
    assert e_value(0.5, 0.3, 0.8, scale="ratio")[0] == pytest.approx(2 + np.sqrt(2))
    assert e_value(1.3, 0.9, 1.8, scale="ratio")[1] == 1.0  # interval includes the null
    rr = np.exp(0.91 * 0.5)
    assert e_value(5.0, 3.0, 7.0, scale="difference", outcome_sd=10.0)[0] == pytest.approx(
        rr + np.sqrt(rr * (rr - 1))
    )


def test_mahalanobis_pairs_each_treated_with_its_nearest_free_control(people) -> None:
    sample = match(people, "t", ["x1", "x2"], distance="mahalanobis")
    values = people[["x1", "x2"]].to_numpy()
    inverse = np.linalg.inv(np.cov(values, rowvar=False))
    used: set[int] = set()
    for treated_row, control_row in sample.pairs[["treated_row", "control_row"]].itertuples(
        index=False
    ):
        controls = [c for c in np.flatnonzero(people["t"].to_numpy() == 0) if c not in used]
        gaps = [
            float((values[treated_row] - values[c]) @ inverse @ (values[treated_row] - values[c]))
            for c in controls
        ]
        assert control_row == controls[int(np.argmin(gaps))]
        used.add(control_row)


def test_with_replacement_controls_can_serve_many_and_weights_count_uses(people) -> None:
    sample = match(people, "t", ["x1", "x2"], replace=True, ratio=2)
    uses = sample.pairs["control_row"].value_counts()
    assert uses.max() > 1
    assert (sample.pairs.groupby("treated_row")["control_row"].nunique() == 2).all()
    controls = uses.index.to_numpy()
    # each use counts 1/2 (two per treated); rescaled so control weights sum to the controls used
    raw = uses.to_numpy() / 2
    assert np.allclose(sample.weights[controls], raw * len(controls) / raw.sum())
    result = effect(sample, "y")
    assert result.ci_low < 2.0 < result.ci_high


def test_ratio_and_exact_groups(people) -> None:
    sample = match(people, "t", ["x1", "x2"], ratio=2, exact=["region"])
    pairs = sample.pairs
    region = people["region"].to_numpy()
    assert (region[pairs["treated_row"]] == region[pairs["control_row"]]).all()
    assert pairs.groupby("treated_row").size().max() == 2


def test_discard_outside_common_support(people) -> None:
    sample = match(people, "t", ["x1", "x2"], discard="both")
    control_scores = sample.distance[~sample.treated]
    kept = sample.pairs["treated_row"].to_numpy()
    assert (sample.distance[kept] <= control_scores.max()).all()
    assert (sample.distance[kept] >= control_scores.min()).all()


def test_balance_flags_covariates_at_or_above_point_one(people) -> None:
    table = balance(match(people, "t", ["x1", "x2"]))
    assert list(table["covariate"]) == ["distance", "x1", "x2"]
    assert (
        table["flag"] == ((table["smd_after"].abs() >= 0.1) & (table["covariate"] != "distance"))
    ).all()
    assert table.attrs["n_treated"] == int(people["t"].sum())


def test_weighted_poisson_sandwich_equals_statsmodels() -> None:
    import warnings

    import statsmodels.api as sm

    from reval.matching._poisson import poisson_cluster

    rng = np.random.default_rng(5)
    n = 400
    exog = sm.add_constant(np.column_stack([rng.integers(0, 2, n), rng.normal(size=n)]))
    y = rng.poisson(np.exp(0.2 + 0.3 * exog[:, 1] + 0.1 * exog[:, 2])).astype(float)
    weights = rng.choice([1.0, 0.5, 1.5], n)
    groups = rng.integers(0, 120, n)
    params, covariance = poisson_cluster(y, exog, weights, groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sm.GLM(y, exog, family=sm.families.Poisson(), var_weights=weights).fit(
            cov_type="cluster", cov_kwds={"groups": groups}, tol=1e-14
        )
    assert np.allclose(params, reference.params, atol=1e-8)
    assert np.allclose(np.sqrt(np.diag(covariance)), reference.bse, atol=1e-8)
