# %% [markdown]
# # Health as a Social Movement: what changed, and what was intended
#
# Programme report for funders and commissioners. Every estimate is shown with its 95%
# interval; counts below 5 are never shown.

# %% tags=["parameters"]
home = ".reval"
run_id = ""

# %%
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from reval.config import Settings
from reval.methods import method_explanations
from reval.pipeline import stored_results
from reval.reporting.disclosure import withhold_small_estimates
from reval.reporting.figures import OKABE_ITO

run, results, intended = stored_results(Settings(home=Path(home)), run_id or None)
results = withhold_small_estimates(results)
sites = sorted(s for s in results["site_id"].unique() if s != "all")
display(Markdown(f"Results of run `{run}` for {len(sites)} sites."))

# %% [markdown]
# ## Summary

# %%
counts = intended["classification"].value_counts()
lines = [
    f"- **{label.capitalize()}**: {counts.get(label, 0)} of {len(intended)} intended outcomes"
    for label in ("achieved", "partly achieved", "not achieved", "reversed", "not measurable")
]
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Effects against matched comparison groups

# %%
did = results[(results["kind"] == "did") & results["estimate"].notna()].copy()
did["label"] = did["site_id"] + " - " + did["measure"]
did = did.sort_values(["measure", "site_id"])
figure, axes = plt.subplots(figsize=(7, 0.3 * len(did) + 1.2), layout="constrained")
rows = range(len(did))
axes.errorbar(
    did["estimate"],
    rows,
    xerr=[did["estimate"] - did["ci_low"], did["ci_high"] - did["estimate"]],
    fmt="o",
    color=OKABE_ITO["blue"],
    ecolor=OKABE_ITO["sky_blue"],
    capsize=3,
)
axes.axvline(0, color=OKABE_ITO["black"], linewidth=1)
axes.set_yticks(list(rows), did["label"].tolist())
axes.set_xlabel("Change in participants relative to matched comparisons (95% interval)")
display(figure)
plt.close(figure)
display(
    Markdown(
        "*Figure: forest plot of the matched difference-in-differences for every site and outcome; "
        "points left of the line mean participants' use fell relative to comparable non-participants.*"
    )
)

# %% [markdown]
# ## Intended versus actual outcomes

# %%
table = intended[["site_id", "outcome_id", "measure", "classification", "gas_level"]]
display(Markdown(table.to_markdown(index=False)))
gas = results[results["kind"] == "gas_t"][["site_id", "estimate"]].rename(
    columns={"estimate": "GAS T-score"}
)
display(Markdown(gas.round(1).to_markdown(index=False)))

# %% [markdown]
# ## Methods

# %%
for name, text in method_explanations().items():
    display(Markdown(f"**{name.replace('_', ' ').capitalize()}.** {text}"))
