"""Weighted least squares with cluster-robust (CR1) standard errors, in numpy.

What statsmodels' ``WLS(...).fit(cov_type="cluster")`` computes, written out so that
`reval match` does not import statsmodels (seconds of start-up for one regression);
tests check it against statsmodels to 1e-10.
"""

from __future__ import annotations

import numpy as np


def wls_cluster(
    y: np.ndarray, exog: np.ndarray, weights: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and their cluster-robust covariance, small-sample corrected as
    G/(G-1) * (n-1)/(n-k) (statsmodels' and Stata's default; sandwich's vcovCL type HC1)."""
    n, k = exog.shape
    root = np.sqrt(weights)
    wexog = exog * root[:, None]
    # QR of the whitened design rather than the normal equations: as stable as
    # statsmodels' pseudo-inverse, and (R'R)^-1 is the bread
    q, r = np.linalg.qr(wexog)
    params = np.linalg.solve(r, q.T @ (y * root))
    r_inverse = np.linalg.solve(r, np.eye(k))
    bread = r_inverse @ r_inverse.T
    scores = wexog * (y * root - wexog @ params)[:, None]
    if np.issubdtype(groups.dtype, np.integer) and groups.min() >= 0:
        # matched-set numbers (or rows): summed by number without sorting them
        sizes = np.bincount(groups)
        g = int(np.count_nonzero(sizes))
        sums = np.column_stack([np.bincount(groups, weights=scores[:, j]) for j in range(k)])
    else:
        labels, index = np.unique(groups, return_inverse=True)
        g = labels.shape[0]
        sums = np.zeros((g, k))
        np.add.at(sums, index, scores)
    correction = g / (g - 1) * (n - 1) / (n - k)
    return params, correction * bread @ (sums.T @ sums) @ bread
