"""The second sample programme end to end, with no code written for it: its programme file
in a fresh workspace, its files ingested in alphabetical order, every model run and the
reports rendered. Every row is accepted, every documented true effect falls inside its
95% interval, and the reports carry its title and name its sites by name."""

from __future__ import annotations

import json
import shutil

import pytest
from bs4 import BeautifulSoup

from reval.config import Settings
from reval.pipeline import evaluate, ingest_file, init_workspace, render_reports
from reval.second_programme import SITES, TITLE, second_programme, write_second_programme
from reval.warehouse import Warehouse

SITE = "halton-wellbeing"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("neighbours")
    programme = second_programme()
    write_second_programme(programme, folder)
    settings = Settings(home=folder / "workspace")
    init_workspace(settings)
    shutil.copyfile(folder / "programme.yaml", settings.home / "programme.yaml")
    files = sorted((folder / "data").iterdir())  # alphabetical: the catalogue comes third
    reports = [ingest_file(settings, path) for path in files]
    run_id, result = evaluate(settings)
    rendered = render_reports(
        settings, run_id, ("html",), kinds=("programme", "site"), site_id=SITE
    )
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    return settings, programme, reports, result, rendered, truth


def test_every_row_of_every_file_is_accepted(run) -> None:
    settings, programme, reports, *_ = run
    assert [r.status for r in reports] == ["loaded"] * len(reports)
    assert sum(r.rows_rejected for r in reports) == 0
    # the survey rows of the two sites before the catalogue waited for it, said once a column
    assert {p.reason for r in reports for p in r.problems} <= {"waiting"}
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        counts = warehouse.row_counts()
    for table, frame in programme.tables.items():
        assert counts[table] == len(frame), table


def test_every_true_effect_falls_inside_its_interval(run) -> None:
    _, _, _, result, _, truth = run
    results = result.results
    checked = 0
    for site, facts in truth["sites"].items():
        for wave, changes in facts["survey_change_from_baseline"].items():
            for measure, value in changes.items():
                if measure == "respondents_in_both_waves":
                    continue
                (row,) = results[(results["site_id"] == site) & (results["measure"] == measure)
                                 & (results["wave"] == int(wave))].itertuples()  # fmt: skip
                assert row.ci_low <= value <= row.ci_high, (site, wave, measure, row, value)
                checked += 1
        for outcome, effect in facts["comparison_att"].items():
            (row,) = results[(results["site_id"] == site) & (results["measure"] == outcome)
                             & (results["kind"] == "did")].itertuples()  # fmt: skip
            assert row.ci_low <= effect["att"] <= row.ci_high, (site, outcome, row, effect)
            checked += 1
    assert checked == 4 * (2 * 6 + 2)  # four sites, two follow-up waves, six measures, two outcomes


def test_change_is_estimated_at_every_follow_up_wave_pooled_too(run) -> None:
    results = run[3].results
    wemwbs = results[(results["measure"] == "wemwbs") & (results["kind"] == "survey_change")]
    assert sorted(set(zip(wemwbs["site_id"], wemwbs["wave"], strict=True))) == sorted(
        (s, w) for s in ["all", *(site.design.site_id for site in SITES)] for w in (1, 2)
    )
    assert wemwbs["ci_low"].notna().all()
    # no SWEMWBS, UCLA-3 or EMPOWERS anywhere: this programme does not use them
    assert not results["measure"].str.startswith(("swemwbs", "ucla", "emp_")).any()


def test_reports_carry_the_programmes_title_and_name_its_sites(run) -> None:
    rendered = run[4]
    assert not rendered.failed, rendered.failed
    programme = BeautifulSoup(rendered.written["programme.html"].read_text(encoding="utf-8"),
                              "html.parser")  # fmt: skip
    assert programme.title.get_text().startswith(TITLE)
    assert "Health as a Social Movement" not in programme.get_text(" ")
    text = programme.get_text(" ")
    for site in SITES:
        assert site.design.site_name in text
    site = BeautifulSoup(rendered.written[f"site-{SITE}.html"].read_text(encoding="utf-8"),
                         "html.parser")  # fmt: skip
    assert site.h1.get_text(strip=True).rstrip("¶").startswith("Halton Wellbeing Circle")
    assert f"Site report of {TITLE}" in site.get_text(" ")
    assert "Wellbeing (WEMWBS, 14-70)" in site.get_text(" ")


def test_its_programme_file_differs_in_every_configurable_way() -> None:
    from reval.programme import parse_programme
    from reval.second_programme import PROGRAMME_YAML

    programme = parse_programme(PROGRAMME_YAML)
    assert programme.title == TITLE
    assert programme.instruments == ("wemwbs", "ons4")
    assert programme.categories["age_band"] == ("16-24", "25-44", "45-64", "65-74", "75+")
    assert programme.wave_name(2) == "one year"
    assert any("-" in site.design.site_id for site in SITES)
