"""The sample programme: reproducible byte for byte, realistic, with documented truth."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from reval.config import SAMPLE_DATA_DIR
from reval.synthetic_programme import (
    DEFAULT_SEED,
    SITE_DESIGNS,
    synthetic_programme,
    write_sample_data,
)

VANGUARDS = {
    "Wellbeing Erewash",
    "Royal Free London staff wellbeing",
    "Stockport Together",
    "Greater Manchester Cancer Vanguard",
    "Airedale care homes",
    "Better Care Together Morecambe Bay",
}


def _digests(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }


def test_generator_reproduces_committed_sample_data_byte_for_byte(programme, tmp_path) -> None:
    written = write_sample_data(programme, tmp_path)
    assert len(written) == 8  # six workbooks, the catalogue, truth.json
    assert _digests(tmp_path) == _digests(SAMPLE_DATA_DIR)


def test_a_different_seed_gives_different_data() -> None:
    other = synthetic_programme(seed=7)
    base = synthetic_programme()
    assert not other.tables["survey_responses"].equals(base.tables["survey_responses"])


def test_six_vanguard_sites_in_every_site_table(programme) -> None:
    assert set(programme.tables["sites"]["site_name"]) == VANGUARDS
    site_ids = set(programme.tables["sites"]["site_id"])
    for name, frame in programme.tables.items():
        if "site_id" in frame:
            assert set(frame["site_id"]) == site_ids, name


def test_truth_documents_every_effect_the_models_must_recover() -> None:
    truth = json.loads((SAMPLE_DATA_DIR / "truth.json").read_text())
    assert truth["seed"] == DEFAULT_SEED == 2021
    assert set(truth["sites"]) == {d.site_id for d in SITE_DESIGNS}
    for site in truth["sites"].values():
        change = site["survey_change_from_baseline"]["1"]
        for measure in ("swemwbs", "ucla3", "paradigm_index"):
            assert isinstance(change[measure], float)
        for outcome in ("ae_visits", "gp_contacts", "admissions", "wellbeing"):
            assert isinstance(site["comparison_att"][outcome]["att"], float)
    erewash = truth["sites"]["wellbeing_erewash"]
    # designed effects: wellbeing up, loneliness down, a shift towards the new paradigm
    assert erewash["survey_change_from_baseline"]["1"]["swemwbs"] > 1.0
    assert erewash["survey_change_from_baseline"]["1"]["ucla3"] < -0.2
    assert erewash["survey_change_from_baseline"]["1"]["paradigm_index"] > 0.3
    # a site designed with no wellbeing change has a true change of about zero
    assert (
        abs(truth["sites"]["morecambe_bay"]["survey_change_from_baseline"]["1"]["swemwbs"]) < 0.05
    )


def test_observed_change_agrees_with_truth(programme) -> None:
    """The documented truth is what the data carry: a paired mean lands near it."""
    from reval.scales import swemwbs_score

    survey = programme.tables["survey_responses"]
    survey = survey.assign(score=swemwbs_score(survey))
    for design in SITE_DESIGNS:
        site = survey[survey["site_id"] == design.site_id]
        wide = site.pivot(index="respondent_id", columns="wave", values="score").dropna(
            subset=[0, 1]
        )
        observed = (wide[1] - wide[0]).mean()
        se = (wide[1] - wide[0]).std() / np.sqrt(len(wide))
        true = programme.truth["sites"][design.site_id]["survey_change_from_baseline"]["1"][
            "swemwbs"
        ]
        assert abs(observed - true) < 4 * se, design.site_id


def test_selection_into_participation_is_confounded(programme) -> None:
    records = programme.tables["comparison_records"]
    by_group = records.groupby("group")[["age", "ltc_count", "imd_decile", "pre_ae_visits"]].mean()
    assert by_group.loc["participant", "ltc_count"] > by_group.loc["comparison", "ltc_count"]
    assert by_group.loc["participant", "imd_decile"] < by_group.loc["comparison", "imd_decile"]
    # participants already used A&E more before the programme: a naive comparison is biased
    assert (
        by_group.loc["participant", "pre_ae_visits"] > by_group.loc["comparison", "pre_ae_visits"]
    )


def test_waves_have_attrition_late_joiners_and_missing_answers(programme) -> None:
    survey = programme.tables["survey_responses"]
    waves = survey.groupby(["site_id", "respondent_id"])["wave"].apply(set)
    baseline_only = waves.map(lambda w: w == {0}).mean()
    follow_up_only = waves.map(lambda w: 0 not in w).mean()
    assert 0.1 < baseline_only < 0.5
    assert 0.02 < follow_up_only < 0.2
    item_missing = survey[[f"swemwbs_{i}" for i in range(1, 8)]].isna().mean().mean()
    assert 0.01 < item_missing < 0.06
    assert (
        survey.loc[survey["wave"] == 0, [c for c in survey if c.endswith("_before")]]
        .isna()
        .all()
        .all()
    )
    assert set(survey.groupby("site_id")["wave"].max()) == {1, 2}


def test_stories_carry_consent_and_only_some_are_shareable(programme) -> None:
    survey = programme.tables["survey_responses"]
    stories = survey[survey["story_text"].notna()]
    assert set(stories["consent_story"]) == {"yes", "no"}
    assert survey.loc[survey["story_text"].isna(), "consent_story"].isna().all()


def test_value_items_move_from_invisible_to_visible(programme) -> None:
    items = programme.tables["value_items"]
    for site_id, site in items.groupby("site_id"):
        first, second = sorted(site["session_date"].unique())
        before = site[site["session_date"] == first].set_index(["story_id", "item"])["visibility"]
        after = site[site["session_date"] == second].set_index(["story_id", "item"])["visibility"]
        moved = int(((before == "invisible") & (after == "visible")).sum())
        assert (
            moved
            == programme.truth["sites"][site_id]["value_account"][
                "items_moved_invisible_to_visible"
            ]
        )


def test_workbook_per_site_holds_that_sites_rows_only() -> None:
    for design in SITE_DESIGNS:
        book = pd.read_excel(SAMPLE_DATA_DIR / "workbooks" / f"{design.site_id}.xlsx",
                             sheet_name=None, engine="calamine")  # fmt: skip
        assert "paradigm_statements" not in book
        for name, frame in book.items():
            assert set(frame["site_id"]) == {design.site_id}, name
