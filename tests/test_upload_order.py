"""Upload order never matters: a reference that cannot be checked yet (a site code before
the sites table, a paradigm item before its catalogue, an intended outcome's measure before
the extract that brings it) is kept and said once, then checked at evaluation time, where
what still has no data becomes "not measurable yet", never a rejected row."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from reval.config import Settings
from reval.contract import TABLES
from reval.evaluation import evaluate_programme
from reval.pipeline import ingest_file, init_workspace
from reval.reporting import content
from reval.warehouse import Warehouse

SITE = "wellbeing_erewash"
REFERENCES = [
    ("sites", "survey_responses"),
    ("sites", "intended_outcomes"),
    ("sites", "comparison_records"),
    ("sites", "value_items"),
    ("sites", "harvested_outcomes"),
    ("sites", "events"),
    ("paradigm_statements", "survey_responses"),
    ("comparison_records", "intended_outcomes"),
    ("intended_outcomes", "harvested_outcomes"),
]
"""Every pair of tables where rows of the second name something the first holds."""


@pytest.fixture(scope="module")
def files(programme, tmp_path_factory) -> dict[str, Path]:
    """One small CSV per table for one site of the sample programme."""
    folder = tmp_path_factory.mktemp("tables")
    out = {}
    for table in TABLES:
        frame = programme.tables[table]
        if "site_id" in frame:
            frame = frame[frame["site_id"] == SITE]
        frame = frame.head(120 if table in {"survey_responses", "comparison_records"} else 40)
        out[table] = folder / f"{table}.csv"
        frame.to_csv(out[table], index=False)
    return out


def _load(settings: Settings, files: dict[str, Path], order: list[str]) -> list:
    init_workspace(settings)
    return [ingest_file(settings, files[table]) for table in order]


def _contents(settings: Settings) -> dict[str, pd.DataFrame]:
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        tables = warehouse.current_tables()
    return {t: f.sort_values(list(f.columns[:3])).reset_index(drop=True) for t, f in tables.items()}


@pytest.mark.parametrize(("referenced", "referring"), REFERENCES)
def test_either_order_of_two_tables_accepts_every_row(
    files, tmp_path, referenced, referring
) -> None:
    results = {}
    for order in ([referenced, referring], [referring, referenced]):
        settings = Settings(home=tmp_path / "-".join(order))
        reports = _load(settings, files, order)
        for report in reports:
            assert report.rows_rejected == 0, [p.message() for p in report.problems]
            assert report.status == "loaded", report.summary()
        results[tuple(order)] = _contents(settings)
    first, second = results.values()
    for table in (referenced, referring):
        pd.testing.assert_frame_equal(first[table], second[table])


def test_rows_before_the_sites_table_wait_and_say_so(files, settings) -> None:
    (report,) = _load(settings, files, ["events"])
    assert report.status == "loaded"
    (note,) = report.problems
    assert note.reason == "waiting"
    assert note.row is None
    assert "the sites table has not arrived yet" in note.message()
    assert "9 row(s) wait for it" in note.message()


def test_an_unknown_site_is_refused_once_the_sites_table_exists(files, settings, tmp_path) -> None:
    _load(settings, files, ["sites"])
    events = pd.read_csv(files["events"]).assign(site_id="wellbeing-erewash")
    events.to_csv(tmp_path / "events.csv", index=False)
    report = ingest_file(settings, tmp_path / "events.csv")
    assert report.status == "rejected"
    assert {p.reason for p in report.problems} == {"unknown_site"}
    assert len(report.problems) == len(events)


def test_a_paradigm_item_whose_statement_comes_later_is_kept_and_said_once(files, settings) -> None:
    report, catalogue = _load(settings, files, ["survey_responses", "paradigm_statements"])
    notes = [p for p in report.problems if p.column and p.column.startswith("para_")]
    # one note per answered column (8 statements "now"; no "before" at baseline), not per answer
    assert len(notes) == 8
    assert {p.reason for p in notes} == {"waiting"}
    assert "catalogue has not arrived yet" in notes[0].message()
    assert report.rows_rejected == 0
    assert catalogue.problems == []


def test_every_table_in_any_order_gives_the_same_warehouse(files, tmp_path) -> None:
    alphabetical = sorted(TABLES)
    contents = []
    for order in (alphabetical, list(reversed(alphabetical))):
        settings = Settings(home=tmp_path / order[0])
        reports = _load(settings, files, order)
        assert sum(r.rows_rejected for r in reports) == 0
        contents.append(_contents(settings))
    for table in TABLES:
        pd.testing.assert_frame_equal(contents[0][table], contents[1][table])


def test_an_intended_outcome_with_no_data_yet_is_not_measurable_yet(files, settings) -> None:
    order = [t for t in TABLES if t != "comparison_records"]
    reports = _load(settings, files, order)
    intended = reports[order.index("intended_outcomes")]
    assert intended.rows_rejected == 0
    (note,) = [p for p in intended.problems if p.column == "measure"]
    assert note.reason == "waiting"
    assert note.value == "ae_visits"
    assert "no data for 'ae_visits' has arrived" in note.message()
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        tables = warehouse.current_tables()
    result = evaluate_programme(tables)
    row = result.intended.set_index("measure").loc["ae_visits"]
    assert row["classification"] == "not measurable"
    assert row["why_not_measurable"] == "not measurable yet: no data for ae_visits"
    # and the reports say so, under the outcome's site name
    content.use_site_names({SITE: "Wellbeing Erewash"})
    lines = content.verdict_rules(result.intended)
    content.use_site_names({})
    assert any(line.startswith("Wellbeing Erewash, ") and line.endswith(
        ": not measurable yet: no data for ae_visits.") for line in lines), lines  # fmt: skip
    # a measure that has data keeps its own reason (or none)
    others = result.intended[result.intended["measure"] != "ae_visits"]
    assert not others["why_not_measurable"].astype(str).str.contains("yet").any()


def test_the_evaluation_says_which_rows_still_wait(files, settings, tmp_path) -> None:
    _load(settings, files, ["events", "paradigm_statements"])
    survey = pd.read_csv(files["survey_responses"]).rename(
        columns={"para_decided_for_us_now": "para_decided_with_us_now"}
    )
    survey.to_csv(tmp_path / "survey_responses.csv", index=False)
    ingest_file(settings, tmp_path / "survey_responses.csv")
    sites = pd.read_csv(files["sites"]).assign(site_id="other-site")
    sites.to_csv(tmp_path / "sites.csv", index=False)
    ingest_file(settings, tmp_path / "sites.csv")
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        tables = warehouse.current_tables()
    waiting = evaluate_programme(tables).results.query("kind == 'waiting'")
    messages = dict(zip(waiting["measure"], waiting["message"], strict=True))
    assert messages["events"] == (
        "9 row(s) of events name site 'wellbeing_erewash', which the sites table does not "
        "list: left out until it does"
    )
    assert "survey_responses" in messages
    assert (
        "statement 'decided_with_us', which the catalogue does not hold yet"
        in (messages["para_decided_with_us_now"])
    )


def test_reference_pairs_cover_every_table() -> None:
    named = set(itertools.chain.from_iterable(REFERENCES))
    assert named == set(TABLES)
