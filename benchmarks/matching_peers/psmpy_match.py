"""psmpy 0.3.16 doing reval's job as far as it can, in its own virtualenv.

Score: ``PsmPy.logistic_ps(balance=False)`` - one scikit-learn LogisticRegression
(liblinear, psmpy's choice: L2-penalised, C=1) on the five covariates. Match:
``kdtree_matched`` on the logit, 1:1 without replacement, treated units in data
order, caliper 0.2 SD of the logit (psmpy takes an absolute caliper, so the SD is
worked out here). Effect: psmpy has no estimator, so the ATT (mean of the pair
differences) and its paired SE are computed here with numpy. Reading the CSV is not
timed; prints one JSON line.
"""

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from psmpy import PsmPy

warnings.filterwarnings("ignore")
frame = pd.read_csv(sys.argv[1])
frame.insert(0, "id", np.arange(len(frame)))
start = time.perf_counter()
model = PsmPy(frame, treatment="treat", indx="id", exclude=["y"])
model.logistic_ps(balance=False)
logit = model.predicted_data["propensity_logit"]
model.kdtree_matched(matcher="propensity_logit", replacement=False,
                     caliper=0.2 * float(np.std(logit, ddof=1)), drop_unmatched=True)  # fmt: skip
pairs = model.matched_ids
y = frame["y"].to_numpy()
diff = y[pairs["id"].to_numpy(dtype=int)] - y[pairs["matched_ID"].to_numpy(dtype=int)]
att, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "att": att, "se": se, "pairs": len(diff)}))
