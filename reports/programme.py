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

data = report_inputs(Settings(home=Path(home)), run_id or None)
results = data.results
show_text(f"# {plain(data.title)}: what changed, and what was intended")
show_list(content.first_screen(data, "all"))
show_text(
    f"Programme report for funders and commissioners, {data.finished_at}, {len(data.site_ids)} sites. "
    "Every estimate is shown with its 95% interval; counts below 5 are shown as <5."
)

# %% [markdown]
# ## Summary

# %%
show_list(content.summary_sentences(data, "all"), empty="No pooled results could be estimated.")

# %% [markdown]
# ## Intended versus actual outcomes

# %%
show_table(content.with_site_names(content.intended_table(data.intended), data), "What each site set out to change, and what happened: the change is counted in the intended direction (more is better), from baseline to the survey wave named, or against matched groups.",
           empty="No intended outcomes were recorded.")  # fmt: skip
show_list(content.verdict_rules(data.intended))
show_table(
    content.with_site_names(content.gas_table(results, data.intended), data),
    "Goal Attainment Scaling T-score per site: 50 = every scored outcome exactly at its target; "
    "an outcome whose interval does not support one level is left out (see 'Rests on').",
)

# %% [markdown]
# ## Effects against matched comparison groups

# %%
did = content.effect_rows(results, "did", by_site=True)
if len(did):
    show_figure(figures.forest_plot(did, xlabel="Change in participants minus change in matched comparisons"),
                "Figure: forest plot of the matched difference-in-differences for every site and outcome "
                "(all = pooled, matched within site), with 95% intervals.")  # fmt: skip
show_table(
    content.with_site_names(content.matched_table(results), data),
    empty="No matched comparison records.",
)
notes = content.rate_ratio_notes(results)
if notes:
    show_list(notes)

# %% [markdown]
# ### Balance of the matched groups

# %%
balance = content.balance_summary(data.balance, "all")
if len(balance):
    show_figure(figures.love_plot(balance, title="All sites: participants and comparisons"),
                "Figure: love plot for the pooled matching - the largest standardised difference on each "
                "characteristic over the matched outcomes; under 0.1 counts as balanced.")  # fmt: skip
show_table(content.balance_table(balance), "Largest standardised mean difference per characteristic, "
           "before and after matching (all sites together, matched within site).",
           empty="No matched comparison, so there is no balance to show.")  # fmt: skip

# %%
show_text(f"## {plain(content.survey_heading(results))}")  # the programme's instruments

# %%
change = content.effect_rows(results, "survey_change", by_site=True)
if len(change):
    show_figure(figures.forest_plot(change, xlabel="Change since the baseline survey (scale points)",
                                    by_measure=True), "")  # fmt: skip
    show_text(f"*{plain(content.survey_figure_caption(results, per_site=True))}*")
show_table(
    content.with_site_names(content.change_table(results, ("survey_change",)), data),
    "Change from the baseline survey.",
)

# %% [markdown]
# ### Who stayed in the survey

# %%
who, risk = (content.with_site_names(t, data) for t in content.attrition_tables(results))
show_table(who, "People who answered the baseline survey, how many of them answered the follow-up, "
           "and the share retained.", empty="No follow-up survey yet.")  # fmt: skip
show_table(risk, "Did leaving bend the change? Baseline score of those who stayed minus those who left, "
           "and the change among people seen twice beside the change weighted for who stayed (95% "
           "intervals). 'At risk' means those who left differed clearly at baseline.",
           empty="No follow-up survey yet.")  # fmt: skip

# %% [markdown]
# ## Paradigm shift

# %%
shares = data.statement_shares[data.statement_shares["site_id"] == "all"]
if len(shares):
    show_figure(figures.diverging_bars(shares),
                "Figure: all sites together - share disagreeing (left) and agreeing (right) with each "
                "statement, by survey wave.")  # fmt: skip
show_table(
    content.with_site_names(content.change_table(results, ("paradigm_index",)), data),
    "Change in the paradigm index.",
)

# %% [markdown]
# ## How people see the movement (EMPOWERS)

# %%
profile = data.empowers[data.empowers["site_id"] == "all"]
if len(profile):
    show_figure(figures.empowers_chart(profile),
                "Figure: all sites together - mean EMPOWERS rating per behaviour and wave, with 95% intervals.")  # fmt: skip
else:
    show_text("*No EMPOWERS ratings yet.*" if data.asks_empowers
              else "*No EMPOWERS ratings: the programme's survey does not ask them.*")  # fmt: skip

# %% [markdown]
# ## Revaluation: the value of the movements

# %%
moved = [(s, content.moved_items(data.value_items, s)[0]) for s in data.site_ids]
show_text("Items of value that moved from invisible to visible between story sessions: "
          + "; ".join(f"{plain(data.site_name(s))} {plain(n)}" for s, n in moved) + ".")  # fmt: skip
show_table(content.with_site_names(content.value_table(results), data), "Calculated value after deadweight, attribution, displacement "
           "and drop-off, under low, central and high adjustments.")  # fmt: skip

# %% [markdown]
# ## Timeline

# %%
show_table(content.with_site_names(content.phase_starts(data.events), data), "When each site entered each phase of the movement.",
           empty="No events recorded.")  # fmt: skip

# %% [markdown]
# ## Unintended outcomes

# %%
show_list(content.unintended_lines(data.unintended, None, stories_per_site=2, results=results),
          empty="None found.")

# %% [markdown]
# ## Stories (shared with consent)

# %%
show_list([f"{data.site_name(s)}: \u201c{story}\u201d" for s in data.site_ids
           for story in content.chosen_stories(data.stories, s, limit=2)],
          empty="No story was shared with consent.")  # fmt: skip

# %% [markdown]
# ## Appendix A: data quality

# %%
show_text(f"Evaluation run `{data.run_id}`, finished {data.finished_at}.")
show_table(content.files_table(data.files), "Files received.", empty="No files received.")
show_table(content.rejections_table(data.rejections, data.files), "Rows rejected, and why.",
           empty="No rows were rejected.")  # fmt: skip
show_list(data.results.loc[data.results["kind"] == "waiting", "message"].tolist(),
          empty="No uploaded row is waiting for another table.")  # fmt: skip

# %% [markdown]
# ## Appendix B: methods

# %%
for method, text in method_explanations().items():
    show_text(f"**{method.replace('_', ' ').capitalize()}.** {text}")
