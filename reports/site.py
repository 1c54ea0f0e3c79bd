# %% tags=["parameters"]
home = ".reval"
run_id = ""
site_id = ""

# %%
from pathlib import Path

from reval.config import Settings
from reval.methods import method_explanations
from reval.reporting import content, figures
from reval.reporting.inputs import report_inputs
from reval.reporting.present import plain, show_figure, show_list, show_table, show_text

data = report_inputs(Settings(home=Path(home)), run_id or None, site_id)
site = data.site_id
name = plain(data.site_name(site))
results = data.results[data.results["site_id"] == site]
show_text(f"# {name}: what changed, and what was intended", f"Site report of {plain(data.title)}.")
show_list(content.first_screen(data, site))
show_text(
    f"**{name}**, {data.finished_at}. "
    "Every estimate is shown with its 95% interval; counts below 5 are shown as <5."
)

# %% [markdown]
# ## Summary

# %%
show_list(
    content.summary_sentences(data, site), empty="No results could be estimated for this site."
)

# %% [markdown]
# ## Intended versus actual outcomes

# %%
show_table(content.intended_table(data.intended), "What the site set out to change, and what happened: the change is counted in the intended direction (more is better), from baseline to the survey wave named, or against matched groups.",
           empty="No intended outcomes were recorded for this site.", hide=("Site",))  # fmt: skip
show_list(content.verdict_rules(data.intended[data.intended["site_id"] == site]))
show_table(content.gas_table(results, data.intended), "Goal Attainment Scaling T-score: 50 = every scored outcome exactly "
           "at its target; an outcome whose interval does not support one level is left out.",
           hide=("Site",))  # fmt: skip

# %% [markdown]
# ## Effects against matched comparison groups

# %%
did = content.effect_rows(results, "did", by_site=False)
if len(did):
    show_figure(figures.forest_plot(did, xlabel="Change in participants minus change in matched comparisons"),
                "Figure: matched difference-in-differences for each outcome, with 95% intervals.")  # fmt: skip
show_table(
    content.matched_table(results),
    empty="No matched comparison records for this site.",
    hide=("Site",),
)
notes = content.rate_ratio_notes(results)
if notes:
    show_list(notes)

# %% [markdown]
# ### Balance of the matched groups

# %%
balance = content.balance_summary(data.balance, site)
if len(balance):
    show_figure(figures.love_plot(balance, title="Participants and comparisons, before and after matching"),
                "Figure: love plot - the largest standardised difference on each characteristic over "
                "the matched outcomes; under 0.1 counts as balanced.")  # fmt: skip
show_table(content.balance_table(balance), "Largest standardised mean difference per characteristic, "
           "before and after matching.", empty="No matched comparison for this site, so there is no "
           "balance to show.")  # fmt: skip

# %%
show_text(f"## {plain(content.survey_heading(results))}")  # the programme's instruments

# %%
change = content.effect_rows(results, "survey_change", by_site=False)
if len(change):
    show_figure(figures.forest_plot(change, xlabel="Change since the baseline survey (scale points)"), "")
    show_text(f"*{plain(content.survey_figure_caption(results, per_site=False))}*")
show_table(
    content.change_table(results, ("survey_change",)),
    "Change from the baseline survey.",
    hide=("Site",),
)

# %% [markdown]
# ### Who stayed in the survey

# %%
who, risk = content.attrition_tables(results)
show_table(who, "People who answered the baseline survey, how many of them answered the follow-up, "
           "and the share retained.", empty="No follow-up survey yet.", hide=("Site",))  # fmt: skip
show_table(risk, "Did leaving bend the change? Baseline score of those who stayed minus those who left, "
           "and the change among people seen twice beside the change weighted for who stayed (95% "
           "intervals). 'At risk' means those who left differed clearly at baseline.",
           empty="No follow-up survey yet.", hide=("Site",))  # fmt: skip

# %% [markdown]
# ## Paradigm shift

# %%
shares = data.statement_shares[data.statement_shares["site_id"] == site]
if len(shares):
    show_figure(figures.diverging_bars(shares),
                "Figure: share disagreeing (left) and agreeing (right) with each statement, by survey wave. "
                "A shift to the new paradigm shows as more agreement with [new] statements and less with [old] ones.")  # fmt: skip
show_table(
    content.change_table(results, ("paradigm_index",)),
    "Change in the paradigm index.",
    hide=("Site",),
)

# %% [markdown]
# ## How people see the movement (EMPOWERS)

# %%
profile = data.empowers[data.empowers["site_id"] == site]
if len(profile):
    show_figure(
        figures.empowers_chart(profile),
        "Figure: mean EMPOWERS rating per behaviour and wave, with 95% intervals.",
    )
else:
    show_text("*No EMPOWERS ratings for this site yet.*" if data.asks_empowers
              else "*No EMPOWERS ratings: the programme's survey does not ask them.*")  # fmt: skip

# %% [markdown]
# ## Revaluation: the value of the movement

# %%
grid = content.six_box_counts(data.value_items, site)
if len(grid) and content.six_box_words(grid):
    show_text(plain(content.six_box_words(grid)))
elif len(grid):
    show_figure(figures.six_box_chart(grid, title="Items of value at the latest story session"),
                "Figure: the six boxes - kinds of value, visible and invisible (counts below 5 shown as <5).")  # fmt: skip
if len(grid):
    moved, which = content.moved_items(data.value_items, site)
    show_text(f"Items that moved from invisible to visible between sessions: **{plain(moved)}**.")
    show_list(which, empty="(Items are listed only when 5 or more moved.)")
show_table(content.value_table(results), "Calculated value after deadweight, attribution, displacement "
           "and drop-off, under low, central and high adjustments.",
           empty="No calculated value for this site.", hide=("Site",))  # fmt: skip

# %% [markdown]
# ## Timeline

# %%
events = data.events[data.events["site_id"] == site]
if len(events):
    show_figure(
        figures.timeline_chart(events, title="Events and phases of the movement"),
        "Figure: the sequence of events, each line shaded by the phase the site was in.",
    )
else:
    show_text("*No events recorded.*")

# %% [markdown]
# ## Unintended outcomes

# %%
show_list(content.unintended_lines(data.unintended, site, results=results), empty="None found.")

# %% [markdown]
# ## Stories (shared with consent)

# %%
show_list([f"\u201c{s}\u201d" for s in content.chosen_stories(data.stories, site)],
          empty="No story was shared with consent.")  # fmt: skip

# %% [markdown]
# ## Appendix A: data quality

# %%
show_text(f"Evaluation run `{data.run_id}`, finished {data.finished_at}; site code {plain(site)}.")
show_table(content.files_table(data.files), "Files received from this site.", empty="No files received.",
           hide=("Site",))  # fmt: skip
show_table(content.rejections_table(data.rejections, data.files), "Rows rejected, and why.",
           empty="No rows were rejected.")  # fmt: skip

# %% [markdown]
# ## Appendix B: methods

# %%
for method, text in method_explanations().items():
    show_text(f"**{method.replace('_', ' ').capitalize()}.** {text}")
