"""Weighted Poisson regression with cluster-robust (CR1) standard errors.

Written out rather than taken from statsmodels' GLM: with matching weights statsmodels
warns that its sandwich is "not fully supported", and silencing that per call is not
thread-safe. The estimating equations are those of a GLM with variance weights
(sum w x (y - mu) = 0); tests check the result against statsmodels to 1e-8.
"""

from __future__ import annotations

import numpy as np


def poisson_cluster(
    y: np.ndarray, exog: np.ndarray, weights: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and their cluster-robust covariance (small-sample corrected as
    G/(G-1) * (n-1)/(n-k), statsmodels' and Stata's default)."""
    n, k = exog.shape
    beta = np.zeros(k)
    beta[0] = np.log(max(np.average(y, weights=weights), 1e-8))
    for _ in range(100):
        mu = np.exp(exog @ beta)
        score = exog.T @ (weights * (y - mu))
        information = exog.T @ (exog * (weights * mu)[:, None])
        step = np.linalg.solve(information, score)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12:
            break
    mu = np.exp(exog @ beta)
    bread = np.linalg.inv(exog.T @ (exog * (weights * mu)[:, None]))
    contributions = exog * (weights * (y - mu))[:, None]
    labels, index = np.unique(groups, return_inverse=True)
    sums = np.zeros((labels.shape[0], k))
    np.add.at(sums, index, contributions)
    meat = sums.T @ sums
    g = labels.shape[0]
    correction = g / (g - 1) * (n - 1) / (n - k)
    return beta, correction * bread @ meat @ bread
