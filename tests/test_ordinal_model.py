"""The paradigm models' ordered logit computes the logistic cdf directly (for speed): its
estimates and cluster-robust SEs must equal statsmodels' own OrderedModel."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.miscmodels.ordinal_model import OrderedModel

from reval.paradigm import _OrderedLogit, _statement_long


def test_fast_ordered_logit_equals_statsmodels(programme) -> None:
    responses = programme.tables["survey_responses"]
    item = programme.tables["paradigm_statements"]["item"].iloc[0]
    long = _statement_long(responses, item, 0, 1)
    endog = pd.Series(pd.Categorical(long["agreement"].astype(int), ordered=True), index=long.index)
    x = (long["wave"] != 0).astype(float).to_frame("follow_up")
    groups = long["respondent_id"].astype(str).factorize()[0]
    options = {"method": "bfgs", "disp": False, "maxiter": 500, "cov_type": "cluster",
               "cov_kwds": {"groups": groups}}  # fmt: skip
    ours = _OrderedLogit(endog, x, distr="logit").fit(**options)
    theirs = OrderedModel(endog, x, distr="logit").fit(**options)
    assert np.allclose(ours.params, theirs.params, rtol=0, atol=1e-9)
    assert np.allclose(ours.bse, theirs.bse, rtol=0, atol=1e-9)
    assert abs(ours.params["follow_up"]) > 0.05  # a real effect, not a degenerate fit
