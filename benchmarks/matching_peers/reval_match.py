"""reval in process: read the CSV (not timed), then score, match and estimate (timed).

Run by benchmarks/run.py with reval's own interpreter; prints one JSON line.
"""

import json
import sys
import time

import pandas as pd
from scipy import special  # noqa: F401 (effect() imports it on first call; peers import first too)

from reval.matching import effect, match

frame = pd.read_csv(sys.argv[1])
start = time.perf_counter()
sample = match(frame, "treat", ["x1", "x2", "x3", "x4", "b"], distance="logit", caliper=0.2)
result = effect(sample, "y")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "att": result.estimate, "se": result.se,
                  "pairs": sample.n_matched_treated}))  # fmt: skip
