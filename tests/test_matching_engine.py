"""The matching engine's own implementations against the references they replace:
WLS with cluster-robust SEs against statsmodels, the effect's interval and p-value
against scipy.stats, and the greedy matcher against a brute-force search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reval.matching import effect, match
from reval.matching._wls import wls_cluster


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_wls_cluster_equals_statsmodels_to_1e_10(seed) -> None:
    from statsmodels.regression.linear_model import WLS

    rng = np.random.default_rng(seed)
    n = 2_000
    treated = rng.integers(0, 2, n).astype(float)
    exog = np.column_stack([np.ones(n), treated, rng.normal(size=n), rng.normal(5, 3, n)])
    y = exog @ np.array([1.0, 0.5, -2.0, 0.3]) + rng.normal(size=n) * (1 + treated)
    weights = rng.choice([1.0, 0.25, 1 / 3, 2.5], n)
    numbers = rng.integers(0, 700, n) * 3 + 11  # matched-set numbers need not be 0..G-1
    fit = WLS(y, exog, weights=weights).fit(cov_type="cluster", cov_kwds={"groups": numbers})
    # the same clusters by number, by negative number and by label
    for groups in (numbers, numbers - 500, numbers.astype(str)):
        params, covariance = wls_cluster(y, exog, weights, groups)
        np.testing.assert_allclose(params, fit.params, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(covariance, fit.cov_params(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.sqrt(np.diag(covariance)), fit.bse, rtol=1e-10, atol=1e-10)


def test_effect_interval_and_p_value_are_scipy_stats_t() -> None:
    from scipy import stats

    rng = np.random.default_rng(4)
    n = 600
    x = rng.normal(size=n)
    t = (rng.random(n) < 1 / (1 + np.exp(-(x - 1)))).astype(int)
    data = pd.DataFrame({"t": t, "x": x, "y": x + 0.4 * t + rng.normal(size=n)})
    result = effect(match(data, "t", ["x"], distance="logit", caliper=0.2), "y")
    df = result.n_matched_treated + result.n_matched_control - 2
    q = stats.t.ppf(0.975, df)
    assert result.ci_low == result.estimate - q * result.se
    assert result.ci_high == result.estimate + q * result.se
    assert result.p_value == float(2 * stats.t.sf(abs(result.estimate / result.se), df))


def brute_force_greedy(distance, treated, order, ratio, replace, caliper, eligible):
    """Greedy matching by checking every control for every choice: the closest free one,
    the earliest row among equally close ones, none further than the caliper."""
    free = set(np.flatnonzero(~treated & eligible).tolist())
    out = np.full((len(order), ratio), -1, dtype=np.int64)
    for round_ in range(ratio):
        for slot, row in enumerate(order.tolist()):
            if not eligible[row]:
                continue
            mine = set(out[slot, :round_].tolist())
            candidates = [
                (abs(distance[row] - distance[c]), c)
                for c in sorted(free)
                if c not in mine
                and (caliper is None or abs(distance[row] - distance[c]) <= caliper)
            ]
            if candidates:
                _, best = min(candidates)
                out[slot, round_] = best
                if not replace:
                    free.discard(best)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_greedy_matcher_equals_brute_force_with_ties(seed) -> None:
    from reval.matching._nearest import greedy_match

    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    # few distinct distances, so equal gaps and runs of equal distances are common
    distance = np.round(rng.normal(size=n), int(rng.integers(0, 3)))
    treated = rng.random(n) < rng.uniform(0.1, 0.5)
    eligible = rng.random(n) < (0.9 if seed % 2 else 1.0)
    treated_rows = np.flatnonzero(treated)
    order = rng.permutation(treated_rows) if seed % 3 else treated_rows
    ratio = int(rng.integers(1, 4))
    caliper = None if seed % 4 == 0 else float(rng.uniform(0.0, 0.5))
    for replace in (False, True):
        got = greedy_match(distance, treated, order, ratio=ratio, replace=replace,
                           caliper=caliper, eligible=eligible)  # fmt: skip
        want = brute_force_greedy(distance, treated, order, ratio, replace, caliper, eligible)
        assert got.tolist() == want.tolist()


def test_csv_reader_types_columns_as_pandas_does(tmp_path) -> None:
    from reval.matching import read_matching_csv

    path = tmp_path / "people.csv"
    path.write_text(
        "\ufeffid,t,age,score,flag,region,visit,when,empty,note\n"
        '1,1,34,1.5,True,north,2024-01-02,12:30,,"a, b"\n'
        "2,0,NA,2.25,False,south,2024-02-03,13:00,,\n"
        "3,0,51,,true,N/A,2024-03-04,14:00,,null\n"
        '4,1,28,-0.5,FALSE,"east",2024-04-05,15:00,,None\n',
        encoding="utf-8",
    )
    wanted = ["t", "age", "score", "flag", "region", "visit", "when", "empty", "note"]
    got = read_matching_csv(path, [*wanted, "not_there"])
    pd.testing.assert_frame_equal(got, pd.read_csv(path)[wanted])
    assert got["visit"].tolist()[0] == "2024-01-02"  # a date stays the text the user typed


def test_csv_reader_names_the_file_it_cannot_read(tmp_path) -> None:
    from reval.matching import MatchingError, read_matching_csv

    path = tmp_path / "ragged.csv"
    path.write_text("t,x\n1,2\n0,3,4\n", encoding="utf-8")
    with pytest.raises(MatchingError, match=r"Could not read ragged\.csv as CSV") as caught:
        read_matching_csv(path, ["t", "x"])
    assert caught.value.reason == "unreadable_file"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("t,r\u00e9gion\n1,a\n".encode("latin-1"))
    with pytest.raises(MatchingError, match="not UTF-8"):
        read_matching_csv(latin, ["t"])
