# %% tags=["parameters"]
home = ".reval"
run_id = ""
site_id = ""

# %%
from pathlib import Path

import pandas as pd

from reval.config import Settings
from reval.reporting import content, figures
from reval.reporting.inputs import report_inputs
from reval.reporting.present import plain, show_figure, show_list, show_text

data = report_inputs(Settings(home=Path(home)), run_id or None, site_id)
site = data.site_id
results = data.results[data.results["site_id"] == site]
show_text(
    f"# {plain(data.site_name(site))}: what we found together",
    f"*{plain(data.title)}*",
    "This is a short summary of what people in the movement told us in the surveys and story "
    "sessions, for everyone who took part. Thank you for your time and your stories.",
)

# %% [markdown]
# ## What changed

# %%
show_list(content.plain_change(data.results, site), empty="We do not have enough answers yet to say what changed.",
          trusted=True)  # fmt: skip
rows = content.headline_changes(data.results, site)
rows = rows[rows["measure"] != "paradigm_index"].copy()
if len(rows):
    rows["label"] = rows["measure"].map(content.participant_label)
    rows["good"] = [
        (e > 0) == content.better_is_higher(m) for e, m in zip(rows["estimate"], rows["measure"], strict=True)
    ]
    show_figure(figures.change_chart(rows, large=True), "")
    show_text(f"*{plain(content.change_picture_caption(rows['measure']))}*")  # the programme's measures

# %% [markdown]
# ## How you see the movement

# %%
profile = data.empowers[data.empowers["site_id"] == site]
if len(profile):
    latest = profile[profile["wave"] == profile["wave"].max()]
    strongest = latest.dropna(subset=["mean"]).sort_values("mean", ascending=False).head(3)
    show_text("People said the movement is strongest at: "
              + "; ".join(plain(content.empowers_words(b)) for b in strongest["behaviour"]) + ".")  # fmt: skip
    show_list(content.empowers_meanings(dict.fromkeys(profile["behaviour"])))
    show_figure(figures.empowers_chart(profile.assign(behaviour=profile["behaviour"].map(content.empowers_words)),
                                       plain_waves=True),
                "Picture: how strongly people see the movement doing each of eight things, "
                "from 0 (not at all) to 10 (very strongly), at each survey.")  # fmt: skip
else:
    show_text("We have no answers yet about how people see the movement." if data.asks_empowers
              else "This survey did not ask how people see the movement.")  # fmt: skip

# %% [markdown]
# ## What people said

# %%
show_list([f"\u201c{s}\u201d" for s in content.chosen_stories(data.stories, site)],
          empty="Nobody has shared a story for this summary yet.")  # fmt: skip
show_text("*Only stories that their tellers agreed to share are shown, without names.*")

# %% [markdown]
# ## Things nobody planned

# %%
harvested = data.unintended[
    (data.unintended["site_id"] == site) & (data.unintended["source"] == "harvested")
]
show_list([f"{w} ({'a good change' if v == 'positive' else 'a difficult change'})"
           for w, v in zip(harvested["what"], harvested["valence"], strict=True)],
          empty="Nothing unexpected was recorded.")  # fmt: skip

# %% [markdown]
# ## What happens next

# %%
upcoming = data.events[(data.events["site_id"] == site)
                       & (pd.to_datetime(data.events["event_date"]) > pd.Timestamp.now())]  # fmt: skip
show_list(
    [f"{pd.Timestamp(d):%d %B %Y}: {e}" for d, e in zip(upcoming["event_date"], upcoming["description"], strict=True)]
    + ["We will talk about these findings together at the next sense-making session.",
       "The next survey will ask the same questions again, so we can see what keeps changing.",
       "If you want to get more involved, or think something here is wrong, tell your site coordinator."],
)  # fmt: skip
