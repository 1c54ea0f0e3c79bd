"""The second sample programme end to end, the way a user runs it, with no code written
for it: `reval sample-data --programme neighbours`, `reval init` in a fresh workspace, its
programme file in place, `reval ingest DIR/*` (the files in alphabetical order, as the
shell gives them), then `reval run` (Prefect's local server, every model, every report).
Every row is accepted, every documented true effect (each site's and all sites together)
falls inside its 95% interval, and every report carries the programme's title, names its
sites by their names, its waves by theirs and its instruments in plain words.

One module fixture runs it all once (`reval run` renders every report: it is the slow part)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from bs4 import BeautifulSoup
from typer.testing import CliRunner

from reval.cli import app
from reval.config import Settings
from reval.second_programme import NAME, SITES, TITLE
from reval.warehouse import Warehouse

SURVEY_MEASURES = ("wemwbs", "ons4_1", "ons4_2", "ons4_3", "ons4_4", "paradigm_index")
OUTCOMES = ("ae_visits", "gp_contacts")
WAVE_NAMES = {1: "six months", 2: "one year"}


def _cli(home: Path, *args: str):
    return CliRunner().invoke(app, list(args), env={"REVAL_HOME": str(home)})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("neighbours")
    home, sample = folder / "workspace", folder / NAME
    made = _cli(home, "sample-data", "--programme", NAME, "--out", str(sample))
    assert made.exit_code == 0, made.output
    assert _cli(home, "init").exit_code == 0
    shutil.copyfile(sample / "programme.yaml", home / "programme.yaml")  # README: step two
    checked = _cli(home, "programme", "check")
    templates = _cli(home, "templates", str(folder / "templates"))
    files = sorted(str(p) for p in (sample / "data").iterdir())  # what `DIR/*` expands to
    ingested = _cli(home, "ingest", *files, "--json")
    # the nightly flow as a user starts it: its own process, Prefect's local server
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    done = subprocess.run([sys.executable, "-m", "reval.cli", "run"], capture_output=True,
                          text=True, env={**env, "REVAL_HOME": str(home)}, timeout=1200)  # fmt: skip
    settings = Settings(home=home)
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        run_id = warehouse.latest_run()
        results, intended = warehouse.stored_results(run_id) if run_id else (None, None)
        counts = warehouse.row_counts()
    return {
        "check": checked, "templates": templates, "files": files, "ingest": ingested, "run": done, "results": results,
        "intended": intended, "counts": counts, "latest": settings.reports_dir / "latest",
        "truth": json.loads((sample / "truth.json").read_text(encoding="utf-8")),
    }  # fmt: skip


def _page(run: dict, name: str) -> BeautifulSoup:
    return BeautifulSoup((run["latest"] / name).read_text(encoding="utf-8"), "html.parser")


def _text(soup: BeautifulSoup) -> str:
    return " ".join(soup.get_text(" ").split())


def test_the_programme_file_checks_and_the_templates_follow_it(run) -> None:
    assert run["check"].exit_code == 0, run["check"].output
    assert f"'{TITLE}'" in run["check"].output
    assert run["templates"].exit_code == 0, run["templates"].output
    survey = next(p for p in run["templates"].output.split() if p.endswith("survey_responses.xlsx"))
    book = openpyxl.load_workbook(survey, read_only=True)
    headings = [c.value for c in next(book["survey_responses"].iter_rows(min_row=2, max_row=2))]
    assert "wemwbs_14" in headings
    assert "ons4_4" in headings
    assert not any(str(h).startswith(("swemwbs_", "ucla_", "emp_")) for h in headings)


def test_every_row_of_every_file_is_accepted(run) -> None:
    assert [Path(f).name for f in run["files"]] == [
        "halton-wellbeing.xlsx",
        "knowsley-connect.xlsx",
        "paradigm_statements.csv",
        "runcorn-carers.xlsx",
        "widnes_youth.xlsx",
    ]  # the catalogue comes third: two sites' paradigm answers arrive before it
    assert run["ingest"].exit_code == 0, run["ingest"].output
    reports = json.loads(run["ingest"].stdout)
    assert [r["status"] for r in reports] == ["loaded"] * 5
    assert all(r["rows_accepted"] == r["rows_read"] > 0 for r in reports)
    assert sum(r["rows_rejected"] for r in reports) == 0
    # the paradigm answers before the catalogue waited for it, said once a column
    assert {p["reason"] for r in reports for p in r["problems"]} == {"waiting"}
    assert sum(run["counts"].values()) == sum(r["rows_read"] for r in reports)


def test_reval_run_stores_a_run_and_renders_every_report(run) -> None:
    done = run["run"]
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Nightly evaluation stored run" in done.stdout
    expected = {"programme.html", "programme.pdf"} | {
        f"{kind}-{site.design.site_id}.{ext}"
        for site in SITES for kind in ("site", "participant") for ext in ("html", "pdf")
    }  # fmt: skip
    assert expected <= {p.name for p in run["latest"].iterdir()}


def test_every_true_effect_falls_inside_its_interval_each_site_and_pooled(run) -> None:
    results, truth = run["results"], run["truth"]
    facts = {**truth["sites"], "all": truth["pooled"]}
    checked = 0
    for site, fact in facts.items():
        for wave, changes in fact["survey_change_from_baseline"].items():
            for measure in SURVEY_MEASURES:
                (row,) = results[(results["site_id"] == site) & (results["measure"] == measure)
                                 & (results["wave"] == int(wave))
                                 & results["kind"].isin(["survey_change", "paradigm_index"])
                                 ].itertuples()  # fmt: skip
                value = changes[measure]
                assert row.ci_low <= value <= row.ci_high, (site, wave, measure, row, value)
                checked += 1
        for outcome in OUTCOMES:
            (row,) = results[(results["site_id"] == site) & (results["measure"] == outcome)
                             & (results["kind"] == "did")].itertuples()  # fmt: skip
            effect = fact["comparison_att"][outcome]["att"]
            assert row.ci_low <= effect <= row.ci_high, (site, outcome, row, effect)
            checked += 1
    assert checked == 5 * (2 * 6 + 2)  # 4 sites + all; 2 waves x 6 measures, 2 outcomes


def test_change_is_estimated_at_every_follow_up_wave_pooled_too(run) -> None:
    results = run["results"]
    wemwbs = results[(results["measure"] == "wemwbs") & (results["kind"] == "survey_change")]
    assert sorted(set(zip(wemwbs["site_id"], wemwbs["wave"], strict=True))) == sorted(
        (s, w) for s in ["all", *(site.design.site_id for site in SITES)] for w in (1, 2)
    )
    assert wemwbs["ci_low"].notna().all()
    # no SWEMWBS, UCLA-3 or EMPOWERS anywhere: this programme does not use them
    assert not results["measure"].str.startswith(("swemwbs", "ucla", "emp_")).any()
    # who stayed, beside the change of its scale score (the sample's: SWEMWBS and UCLA-3),
    # per site and for all sites together
    retention = results[results["kind"] == "retention"]
    sites = ["all", *(site.design.site_id for site in SITES)]
    assert sorted(
        set(zip(retention["measure"], retention["site_id"], retention["wave"], strict=True))
    ) == sorted(("wemwbs", site, w) for site in sites for w in (1, 2))
    assert results.loc[results["kind"] == "ipw_change", "ci_low"].notna().all()
    # each intended outcome is judged, none refused or lost
    assert len(run["intended"]) == sum(len(site.design.intended) for site in SITES)
    assert run["intended"]["classification"].notna().all()


def test_every_report_carries_the_programmes_title_and_names_its_sites(run) -> None:
    programme = _page(run, "programme.html")
    text = _text(programme)
    assert programme.title.get_text().startswith(TITLE)
    assert "Health as a Social Movement" not in text
    main = text.split("Appendix A")[0]  # the data-quality appendix names files, and so codes
    assert "loneliness" not in text.lower()
    # its survey does not ask them: said so, not an empty chart nor "no answers yet"
    assert "No EMPOWERS ratings: the programme's survey does not ask them" in main
    assert "Wellbeing and personal wellbeing" in main  # the survey section, after its instruments
    for site in SITES:
        assert site.design.site_name in main, site.design.site_name
        assert site.design.site_id not in main, site.design.site_id
    for site in SITES:
        name, code = site.design.site_name, site.design.site_id
        report = _page(run, f"site-{code}.html")
        assert report.h1.get_text(strip=True).rstrip("¶").startswith(name)
        assert report.title.get_text().startswith(name)
        assert f"Site report of {TITLE}" in _text(report)
        assert code not in _text(report).split("Appendix A")[0]  # the code only in the appendix
        assert "Health as a Social Movement" not in _text(report)
        summary = _page(run, f"participant-{code}.html")
        assert summary.h1.get_text(strip=True).rstrip("¶") == f"{name}: what we found together"
        assert TITLE in _text(summary)
        assert "Health as a Social Movement" not in _text(summary)
        assert code not in _text(summary)
        assert "This survey did not ask how people see the movement." in _text(summary)
        assert "no answers yet" not in _text(summary)


def test_reports_say_the_waves_by_the_names_the_programme_gives_them(run) -> None:
    text = _text(_page(run, "programme.html"))
    assert re.search(r"from baseline to (six months|one year) \(95% interval", text)
    assert re.search(r"from the baseline survey to six months: .*; to one year: ", text)
    assert "one year survey" in text  # the intended-outcome table's Data column
    # who the headline rests on: the programme's first scale (WEMWBS), by its wave's name
    assert re.search(r"For whom: the \d+ people who answered both the baseline survey and the "
                     r"(six months|one year) survey", text)  # fmt: skip
    assert not re.search(r"\bwave [12]\b", text), re.findall(r".{60}\bwave [12]\b.{20}", text)
    site = _text(_page(run, f"site-{SITES[0].design.site_id}.html"))
    assert "Wellbeing (WEMWBS, 14-70)" in site
    assert not re.search(r"\bwave [12]\b", site)


def test_the_participant_summary_says_this_programmes_measures_in_plain_words(run) -> None:
    soup = _page(run, f"participant-{SITES[1].design.site_id}.html")
    text = _text(soup)
    assert "Wellbeing (scored from 14 to 70)" in text
    assert "Anxiety (scored from 0 to 10, higher is worse)" in text
    assert "Life satisfaction (scored from 0 to 10)" in text
    assert "between the baseline survey and the one year survey" in text
    for word in ("loneliness", "Loneliness", "SWEMWBS", "7 to 35", "ons4", "wemwbs"):
        assert word not in text, word
    caption = next(
        i["alt"] for i in soup.find_all("img") if i["alt"].startswith("Bar chart of change")
    )
    assert "Wellbeing (14 to 70)" in caption
    assert "Anxiety (0 to 10)" in caption
    assert "Picture: how much wellbeing, life satisfaction, " in text
    # no EMPOWERS questions in this survey: that section says there is nothing, not the sample's
    assert "the survey calls this" not in text


def test_its_programme_file_differs_in_every_configurable_way() -> None:
    from reval.programme import parse_programme
    from reval.second_programme import PROGRAMME_YAML

    programme = parse_programme(PROGRAMME_YAML)
    assert programme.title == TITLE
    assert programme.instruments == ("wemwbs", "ons4")
    assert programme.categories["age_band"] == ("16-24", "25-44", "45-64", "65-74", "75+")
    assert programme.waves == {0: "baseline", **WAVE_NAMES}
    assert any("-" in site.design.site_id for site in SITES)
