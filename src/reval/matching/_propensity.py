"""Propensity scores and the design matrix, built the way R's model.matrix builds them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

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
            if values.nunique(dropna=True) < 2:
                raise MatchingError(
                    f"Covariate {name!r} is the same ({values.dropna().iloc[0]:g}) for everyone, so it "
                    "cannot explain who took part; drop it from --covariates.",
                    reason="covariate_constant",
                )
            parts.append(values.rename(name).to_frame())
    return pd.concat(parts, axis=1)


def propensity_scores(treated: np.ndarray, design: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression of treatment on the design: (probability, linear predictor)."""
    exog = sm.add_constant(design.to_numpy(dtype=float), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        try:
            fit = sm.GLM(treated.astype(float), exog, family=sm.families.Binomial()).fit(
                tol=1e-12, maxiter=200
            )
        except (PerfectSeparationError, PerfectSeparationWarning) as error:
            raise MatchingError(
                "The covariates predict taking part perfectly (perfect separation), so there is no "
                "comparable comparison group. Remove the covariate that splits the groups, or "
                "match exactly on it instead (--exact).",
                reason="perfect_separation",
            ) from error
    linear = exog @ fit.params
    probability = 1.0 / (1.0 + np.exp(-linear))
    if np.any(probability > 1 - 1e-10) or np.any(probability < 1e-10):
        raise MatchingError(
            "The covariates predict taking part perfectly (perfect separation), so there is no "
            "comparable comparison group. Remove the covariate that splits the groups, or match "
            "exactly on it instead (--exact).",
            reason="perfect_separation",
        )
    return probability, linear


def mahalanobis_space(design: pd.DataFrame) -> np.ndarray:
    """Rows whitened so Euclidean distance equals Mahalanobis distance (pooled covariance)."""
    values = design.to_numpy(dtype=float)
    covariance = np.cov(values, rowvar=False)
    inverse = np.linalg.pinv(np.atleast_2d(covariance))
    root = np.linalg.cholesky(inverse + 1e-12 * np.eye(inverse.shape[0]))
    return values @ root
