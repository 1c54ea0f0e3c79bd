"""Propensity scores and the design matrix, built the way R's model.matrix builds them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reval.matching.errors import MatchingError


def design_matrix(data: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Covariates as numbers: text and categorical columns become treatment-coded dummies
    (first level, in sorted order, left out), as R's ``model.matrix`` does."""
    parts: list[pd.DataFrame] = []
    for name in covariates:
        column = data[name]
        if column.isna().all():
            raise MatchingError(
                f"Covariate {name!r} is missing for every row; drop it from --covariates or fill it in.",
                reason="covariate_missing",
            )
        if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            column
        ):
            levels = sorted(column.dropna().astype(str).unique())
            if len(levels) < 2:
                raise MatchingError(
                    f"Covariate {name!r} takes a single value ({levels[0]!r}) so it cannot explain "
                    "who took part; drop it from --covariates.",
                    reason="covariate_constant",
                )
            text = column.astype(str)
            parts.append(pd.DataFrame(
                {f"{name}{level}": (text == level).astype(float) for level in levels[1:]},
                index=data.index,
            ))  # fmt: skip
        else:
            values = column.astype(float)
            if values.min() == values.max():  # one value (blanks aside); cheaper than nunique
                raise MatchingError(
                    f"Covariate {name!r} is the same ({values.dropna().iloc[0]:g}) for everyone, so it "
                    "cannot explain who took part; drop it from --covariates.",
                    reason="covariate_constant",
                )
            parts.append(values.rename(name).to_frame())
    return pd.concat(parts, axis=1)


SEPARATION_MESSAGE = (
    "The covariates predict taking part perfectly (perfect separation), so there is no "
    "comparable comparison group. Remove the covariate that splits the groups, or match "
    "exactly on it instead (--exact)."
)


CHUNK = 1 << 16
"""Rows per block in the IRLS passes: a block's temporaries stay in cache and are reused,
instead of each operation allocating (and the kernel zeroing) arrays the size of the data."""


def propensity_scores(treated: np.ndarray, design: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression of treatment on the design: (probability, linear predictor).

    Fitted by iteratively reweighted least squares on the p x p normal equations (as R's
    glm does, started the same way) rather than a decomposition of the n x p matrix, so
    time and memory grow linearly with the rows; converged far tighter than glm's default.
    Each iteration is one pass over the rows in blocks: the deviance of the current
    coefficients and the normal equations for the next ones.
    """
    exog = np.column_stack([np.ones(len(design)), design.to_numpy(dtype=float)])
    n, k = exog.shape
    y = treated.astype(float)
    eta = np.empty(n)
    beta = None
    deviance = np.inf
    for _ in range(101):
        gram, rhs, new = np.zeros((k, k)), np.zeros(k), 0.0
        for lo in range(0, n, CHUNK):
            x, yc = exog[lo : lo + CHUNK], y[lo : lo + CHUNK]
            if beta is None:  # glm's start: mu = (y + 0.5) / 2
                mu = (yc + 0.5) / 2.0
                e = np.log(mu / (1.0 - mu))
            else:
                e = x @ beta
                mu = 1.0 / (1.0 + np.exp(-e))
                with np.errstate(divide="ignore", invalid="ignore"):
                    new += np.sum(np.where(yc > 0, np.log(mu), np.log1p(-mu)))
            eta[lo : lo + CHUNK] = e
            weight = mu * (1.0 - mu)
            if np.any(weight < 1e-300):
                raise MatchingError(SEPARATION_MESSAGE, reason="perfect_separation")
            weighted = x * weight[:, None]
            gram += x.T @ weighted
            rhs += weighted.T @ (e + (yc - mu) / weight)
        new *= -2.0
        if beta is not None:
            if np.isfinite(new) and abs(new - deviance) / (abs(new) + 0.1) < 1e-14:
                break
            deviance = new
        try:
            beta = np.linalg.solve(gram, rhs)
        except np.linalg.LinAlgError as error:
            raise MatchingError(
                "Two or more covariates carry the same information (they are collinear); drop "
                "one of them from --covariates.",
                reason="covariate_constant",
            ) from error
    probability = 1.0 / (1.0 + np.exp(-eta))
    if (
        not np.all(np.isfinite(eta))
        or np.any(probability > 1 - 1e-10)
        or np.any(probability < 1e-10)
    ):
        raise MatchingError(SEPARATION_MESSAGE, reason="perfect_separation")
    return probability, eta


def mahalanobis_space(design: pd.DataFrame) -> np.ndarray:
    """Rows whitened so Euclidean distance equals Mahalanobis distance (pooled covariance)."""
    values = design.to_numpy(dtype=float)
    covariance = np.cov(values, rowvar=False)
    inverse = np.linalg.pinv(np.atleast_2d(covariance))
    root = np.linalg.cholesky(inverse + 1e-12 * np.eye(inverse.shape[0]))
    return values @ root
