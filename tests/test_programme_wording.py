"""What reports say about a programme's measures and waves comes from its configuration
(the instrument registry and programme.yaml), never from constants about the sample: the
sample programme (SWEMWBS, UCLA-3, unnamed waves) and Neighbours in Health (WEMWBS, ONS4,
named waves) each get their own plain words, from the same functions."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from reval.contract import programme_contract
from reval.programme import parse_programme
from reval.reporting import content
from reval.second_programme import PROGRAMME_YAML


@pytest.fixture(autouse=True)
def _unnamed_waves() -> Iterator[None]:
    """Wave names are set per report; each test starts and ends with none."""
    content.use_wave_names({})
    yield
    content.use_wave_names({})


def _change(measure: str, wave: int, estimate: float, site: str = "halton-wellbeing") -> dict:
    return {"site_id": site, "measure": measure, "kind": "survey_change", "wave": wave,
            "estimate": estimate, "ci_low": estimate - 1, "ci_high": estimate + 1, "n": 40}  # fmt: skip


def test_the_sample_instruments_keep_their_words() -> None:
    """The registry gives exactly the words the sample's reports have always used."""
    assert content.plain_measure("swemwbs") == "wellbeing"
    assert content.plain_measure("ucla3") == "loneliness"
    assert content.scale_range("swemwbs") == "scored from 7 to 35"
    assert content.scale_range("ucla3") == "scored from 3 to 9, higher is lonelier"
    assert content.participant_label("swemwbs") == "Wellbeing (7 to 35)"
    assert content.participant_label("ucla3") == "Loneliness (3 to 9)"
    assert content.change_picture_caption(["swemwbs", "ucla3"]).startswith(
        "Picture: how much wellbeing and loneliness changed between the first survey and the "
        "latest one."
    )
    assert content.empowers_words("mobilises") == "getting people involved and acting together"
    assert len(content.empowers_meanings()) == 8


def test_wemwbs_and_ons4_get_their_own_plain_words() -> None:
    assert content.plain_measure("wemwbs") == "wellbeing"
    assert content.scale_range("wemwbs") == "scored from 14 to 70"
    assert content.participant_label("wemwbs") == "Wellbeing (14 to 70)"
    assert content.plain_measure("ons4_1") == "life satisfaction"
    assert content.plain_measure("ons4_2") == "feeling that what you do is worthwhile"
    assert content.scale_range("ons4_3") == "scored from 0 to 10"
    assert content.scale_range("ons4_4") == "scored from 0 to 10, higher is worse"  # anxiety
    assert content.participant_label("ons4_4") == "Anxiety (0 to 10)"
    assert not content.better_is_higher("ons4_4")
    assert content.better_is_higher("ons4_1")
    caption = content.change_picture_caption(["wemwbs", "ons4_1", "ons4_4"])
    assert "how much wellbeing, life satisfaction and anxiety changed" in caption
    assert "loneliness" not in caption


def test_the_survey_section_is_named_after_the_programmes_instruments() -> None:
    sample = pd.DataFrame([_change("swemwbs", 1, 1.0), _change("ucla3", 1, -0.2)])
    neighbours = pd.DataFrame([_change("ons4_1", 1, 0.4), _change("wemwbs", 1, 2.0)])
    assert content.survey_heading(sample) == "Wellbeing and loneliness"
    assert content.survey_figure_caption(sample, per_site=True) == (
        "Figure: change in wellbeing and loneliness since the baseline survey per site "
        "(all = pooled), with 95% intervals."
    )
    assert content.survey_heading(neighbours) == "Wellbeing and personal wellbeing"
    assert content.headline_measures(neighbours) == ["wemwbs", "ons4_1"]  # scores first


def test_a_programmes_own_battery_says_its_own_words() -> None:
    programme = parse_programme("""\
title: Confident Carers
instruments: [confidence]
own_instruments:
  confidence:
    name: Confidence in caring
    display_name: Confidence (4-20)
    plain_name: confidence in caring
    range_words: scored from 4 to 20, higher is more confident
    answers: {values: [1, 2, 3, 4, 5], labels: [Not at all, A little, Somewhat, Quite, Very]}
    items: {1: I can look after them, 2: I know where to get help, 3: I can say what I need,
            4: I can take a break}
    scoring: sum
    range: [4, 20]
    better: higher
    citation: Written by the programme team, 2024.
""")
    content.use_instruments(programme_contract(programme).instruments)
    assert content.plain_measure("confidence") == "confidence in caring"
    assert content.scale_range("confidence") == "scored from 4 to 20, higher is more confident"
    assert content.participant_label("confidence") == "Confidence in caring (4 to 20)"
    assert content.measure_name("confidence") == "Confidence (4-20)"


def test_plain_items_must_name_the_instruments_items() -> None:
    from reval.contract import instrument_from_spec, instrument_registry

    spec = {"name": "x", "items": {1: "a", 2: "b"}, "answers": "swemwbs", "scoring": "each_item",
            "range": [1, 5], "better": "higher", "citation": "c", "plain_items": {3: "c"}}  # fmt: skip
    with pytest.raises(ValueError, match="'plain_items' names items that are not in 'items'"):
        instrument_from_spec("xx", spec)
    assert instrument_registry()["ons4"].plain_items["4"] == "anxiety"


def test_unnamed_waves_read_as_the_sample_always_has() -> None:
    results = pd.DataFrame([_change("swemwbs", 1, 2.0), _change("swemwbs", 2, 3.0)])
    assert content.wave_words(0) == "baseline"
    assert content.wave_words(2) == "wave 2"
    assert content.wave_text(2) == "survey wave 2"
    assert content.survey_words(2) == "between the first survey and the third"
    assert content.wave_cell(1) == "1"
    labels = content.effect_rows(results, "survey_change", by_site=False)["label"].tolist()
    assert labels == ["Wellbeing (SWEMWBS, 7-35) (wave 1)", "Wellbeing (SWEMWBS, 7-35) (wave 2)"]


def test_named_waves_are_said_by_their_names_with_the_same_numbers() -> None:
    content.use_wave_names(parse_programme(PROGRAMME_YAML).waves)
    results = pd.DataFrame([_change("wemwbs", 1, 2.0), _change("wemwbs", 2, 3.25)])
    assert content.wave_words(0) == "baseline"
    assert content.wave_words(2) == "one year"
    assert content.wave_text(2) == "one year survey"
    assert content.survey_words(2) == "between the baseline survey and the one year survey"
    assert content.wave_cell(1) == "six months"
    assert content.survey_name(1) == "Six months"
    labels = content.effect_rows(results, "survey_change", by_site=False)["label"].tolist()
    assert labels == [
        "Wellbeing (WEMWBS, 14-70) (six months)",
        "Wellbeing (WEMWBS, 14-70) (one year)",
    ]
    table = content.change_table(results)
    assert table["Wave"].tolist() == ["six months", "one year"]
    assert table["Change"].tolist() == ["2.00", "3.25"]  # the numbers do not change
    plain = content.plain_change(results, "halton-wellbeing")
    assert plain == [
        "**Wellbeing** (scored from 14 to 70) went up by about 3.2 points between the baseline "
        "survey and the one year survey - we are fairly sure this is a real change (likely "
        "somewhere between 2.2 and 4.2)."
    ]


def test_the_participants_picture_says_since_which_survey() -> None:
    from reval.reporting.figures import change_chart

    rows = pd.DataFrame(
        [{**_change("wemwbs", 2, 3.0), "label": "Wellbeing (14 to 70)", "good": True}]
    )
    assert (
        change_chart(rows).figure.axes[0].get_xlabel() == "Change in points since the first survey"
    )
    content.use_wave_names({0: "intake", 2: "one year"})
    assert (
        change_chart(rows).figure.axes[0].get_xlabel() == "Change in points since the intake survey"
    )
    assert content.survey_words(2) == "between the intake survey and the one year survey"


def test_many_survey_estimates_get_one_panel_per_measure() -> None:
    """Neighbours in Health's five measures, five sites and two named waves (50 rows): one
    panel per measure on its own scale, rows by site and wave; the sample's (about 20
    rows) stays one plot."""
    from reval.reporting.figures import forest_plot

    content.use_wave_names(parse_programme(PROGRAMME_YAML).waves)
    measures = ["wemwbs", "ons4_1", "ons4_2", "ons4_3", "ons4_4"]
    sites = ["all", "halton-wellbeing", "knowsley-connect", "runcorn-carers", "widnes_youth"]
    many = pd.DataFrame([_change(m, w, 2.0, s) for m in measures for s in sites for w in (1, 2)])
    rows = content.effect_rows(many, "survey_change", by_site=True)
    assert len(forest_plot(rows, xlabel="Change").figure.axes) == 1  # matched effects: as ever
    chart = forest_plot(rows, xlabel="Change", by_measure=True)
    assert [a.get_title(loc="left") for a in chart.figure.axes] == [
        "Personal wellbeing (ONS4, 0-10): life satisfaction",
        "Personal wellbeing (ONS4, 0-10): worthwhile",
        "Personal wellbeing (ONS4, 0-10): happiness",
        "Personal wellbeing (ONS4, 0-10): anxiety",
        "Wellbeing (WEMWBS, 14-70)",
    ]
    rows = [t.get_text() for t in chart.figure.axes[-1].get_yticklabels()]
    assert rows[-1] == "All sites - six months"  # the top row (ticks count from the bottom)
    assert "halton-wellbeing - one year" in rows  # no sites table here: the code stands
    assert "Wellbeing (WEMWBS, 14-70) (one year)" in chart.alt_text  # the full label
    content.use_wave_names({})
    few = pd.DataFrame([_change(m, 1, 1.0, s) for m in ("swemwbs", "ucla3") for s in sites])
    chart = forest_plot(
        content.effect_rows(few, "survey_change", by_site=True), xlabel="Change", by_measure=True
    )
    assert len(chart.figure.axes) == 1
