"""causalml 0.18.0 doing reval's job as far as it can, in its own virtualenv.

Score: scikit-learn's unpenalised LogisticRegression (the same model as glm; causalml's
own ElasticNetPropensityModel would add a cross-validated penalty grid). Match:
``causalml.match.NearestNeighborMatch(caliper=0.2, replace=False, ratio=1,
shuffle=False)`` on the logit: 1:1 without replacement, treated units in data order,
caliper 0.2 SD of the logit. Effect: causalml has no estimator for a matched sample,
so the ATT (mean of the pair differences) and its paired SE are computed here with
numpy. Reading the CSV is not timed; prints one JSON line.
"""

import json
import sys
import time

import numpy as np
import pandas as pd
from causalml.match import NearestNeighborMatch
from sklearn.linear_model import LogisticRegression

frame = pd.read_csv(sys.argv[1])
start = time.perf_counter()
covariates = frame[["x1", "x2", "x3", "x4", "b"]]
model = LogisticRegression(C=np.inf, max_iter=1000).fit(covariates, frame["treat"])
frame["logit"] = model.decision_function(covariates)
matcher = NearestNeighborMatch(caliper=0.2, replace=False, ratio=1, shuffle=False)
matcher.match(frame, "treat", ["logit"])
pairs = matcher.matched_indexes_
y = frame["y"]
diff = y.loc[pairs["from"]].to_numpy() - y.loc[pairs["to"]].to_numpy()
att, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "att": att, "se": se, "pairs": len(diff)}))
