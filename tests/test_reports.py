"""The three reports rendered from sample_data/ with the built-in engine, read back as a
reader (and a screen reader) would: the numbers are the warehouse's, no count below 5
shows, every figure has alt text, the headings are navigable, and the PDF has the
sections the HTML has."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

from reval.config import Settings
from reval.reporting import content
from reval.synthetic_programme import SITE_DESIGNS
from reval.warehouse import Warehouse
from tests.conftest import RENDERED_SITE as SITE  # three waves: the richest site

SITE_SECTIONS = [
    "Summary", "Intended versus actual outcomes", "Effects against matched comparison groups",
    "Wellbeing and loneliness", "Paradigm shift", "How people see the movement (EMPOWERS)",
    "Revaluation: the value of the movement", "Timeline", "Unintended outcomes",
    "Stories (shared with consent)", "Appendix A: data quality", "Appendix B: methods",
]  # fmt: skip
PARTICIPANT_SECTIONS = [
    "What changed", "How you see the movement", "What people said", "Things nobody planned",
    "What happens next",
]  # fmt: skip
COUNT_COLUMNS = {"People", "People matched", "Rows accepted", "Rows rejected", "Rows"}
COUNT_WORDS = r"people|persons|respondents|participants|rows|items|stories|files|answers"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, rendered_sample) -> tuple[Settings, str, dict[str, Path]]:
    """The session's rendered sample (programme, and SITE's site and participant reports)."""
    settings, run_id = rendered_sample(tmp_path_factory.mktemp("reports") / "workspace")
    return settings, run_id, {p.name: p for p in (settings.reports_dir / run_id).iterdir()}


def _soup(rendered, name: str) -> BeautifulSoup:
    return BeautifulSoup(rendered[2][name].read_text(encoding="utf-8"), "html.parser")


def _tables(soup: BeautifulSoup) -> list[pd.DataFrame]:
    frames = []
    for table in soup.find_all("table"):
        header = [th.get_text(strip=True) for th in table.find_all("th")]
        rows = [
            [td.get_text(strip=True) for td in tr.find_all("td")] for tr in table.find_all("tr")
        ]
        frames.append(pd.DataFrame([r for r in rows if r], columns=header))
    return frames


def _stored(settings: Settings, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        return warehouse.stored_results(run_id)


def test_every_report_kind_is_written_as_html_and_pdf(rendered) -> None:
    settings, run_id, written = rendered
    expected = {f"{stem}.{fmt}" for stem in ("programme", f"site-{SITE}", f"participant-{SITE}")
                for fmt in ("html", "pdf")}  # fmt: skip
    assert set(written) == expected
    for name in expected:
        assert (settings.reports_dir / run_id / name).is_file()
        assert (settings.reports_dir / "latest" / name).read_bytes() == written[name].read_bytes()


def test_site_report_shows_the_warehouse_numbers(rendered) -> None:
    settings, run_id, _ = rendered
    results, intended = _stored(settings, run_id)
    mine = results[results["site_id"] == SITE]
    tables = _tables(_soup(rendered, f"site-{SITE}.html"))
    change = next(t for t in tables if list(t.columns[:3]) == ["Measure", "Wave", "Change"])
    survey = mine[mine["kind"] == "survey_change"].sort_values(["measure", "wave"])
    assert len(change) == len(survey) == 4  # two measures, two follow-up waves
    shown = change.assign(measure=change["Measure"].map(
        {"Wellbeing (SWEMWBS, 7-35)": "swemwbs", "Loneliness (UCLA 3-item, 3-9)": "ucla3"}))  # fmt: skip
    for row in survey.itertuples():
        line = shown[(shown["measure"] == row.measure) & (shown["Wave"] == str(row.wave))].iloc[0]
        assert line["Change"] == content.number_text(row.estimate)
        assert line["95% interval"] == (
            f"{content.number_text(row.ci_low)} to {content.number_text(row.ci_high)}"
        )
        assert line["People"] == str(row.n)
    matched = next(t for t in tables if "People matched" in t.columns)
    did = mine[mine["kind"] == "did"]
    assert sorted(matched.loc[matched["Effect"] == "difference in change", "Estimate"]) == sorted(
        content.number_text(v)
        for v in did["estimate"]  # "-0.00" is printed "0.00"
    )
    verdicts = next(t for t in tables if "Verdict" in t.columns)
    site_intended = intended[intended["site_id"] == SITE].sort_values("outcome_id")
    assert verdicts["Verdict"].tolist() == site_intended["classification"].tolist()
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        written = warehouse.current("intended_outcomes", SITE).set_index("outcome_id")["statement"]
    # the outcome as the site wrote it, not its id
    assert verdicts["Outcome"].tolist() == written[site_intended["outcome_id"]].tolist()


def test_programme_report_shows_every_sites_verdict_and_gas_score(rendered, programme) -> None:
    settings, run_id, _ = rendered
    results, intended = _stored(settings, run_id)
    tables = _tables(_soup(rendered, "programme.html"))
    verdicts = next(t for t in tables if "Verdict" in t.columns)
    expected = intended.sort_values(["site_id", "outcome_id"])
    names = {d.site_id: d.site_name for d in SITE_DESIGNS}  # sites by name, not code
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        written = warehouse.current("intended_outcomes")
    statements = dict(zip(zip(written["site_id"], written["outcome_id"], strict=True),
                          written["statement"], strict=True))  # fmt: skip
    expected = expected.assign(outcome_id=list(zip(expected["site_id"], expected["outcome_id"],
                                                   strict=True)))  # fmt: skip
    assert list(
        zip(verdicts["Site"], verdicts["Outcome"], verdicts["Verdict"], strict=True)
    ) == list(
        zip(expected["site_id"].map(names), expected["outcome_id"].map(statements),
            expected["classification"], strict=True)
    )  # fmt: skip
    gas = next(t for t in tables if "GAS T-score" in t.columns)
    stored = results[results["kind"] == "gas_t"].sort_values("site_id")
    assert gas["GAS T-score"].tolist() == [f"{v:.1f}" for v in stored["estimate"]]


@pytest.mark.parametrize(
    "name", ["programme.html", f"site-{SITE}.html", f"participant-{SITE}.html"]
)
def test_no_count_below_five_appears(rendered, name: str) -> None:
    soup = _soup(rendered, name)
    for table in _tables(soup):
        for column in COUNT_COLUMNS & set(table.columns):
            for cell in table[column]:
                assert cell in {"<5", "-", "0"} or int(cell.replace(",", "")) >= 5, (
                    name,
                    column,
                    cell,
                )
    text = soup.get_text(" ")
    small = re.findall(rf"\b([1-4]) ({COUNT_WORDS})\b", text)
    assert not small, small
    for img in soup.find_all("img"):
        assert not re.search(rf"\b[1-4] ({COUNT_WORDS})\b", img["alt"])
    assert "<5" in text or name.startswith("participant")  # the site has small cells, shown as <5


@pytest.mark.parametrize(
    "name", ["programme.html", f"site-{SITE}.html", f"participant-{SITE}.html"]
)
def test_every_figure_has_alt_text_and_headings_are_navigable(rendered, name: str) -> None:
    soup = _soup(rendered, name)
    images = soup.find_all("img")
    assert len(images) >= 2
    for img in images:
        alt = img.get("alt", "")
        assert len(alt) > 40, alt
        assert "No description" not in alt
    assert len(soup.find_all("h1")) == 1
    assert soup.html["lang"] == "en-GB"
    headings = [h.get_text(strip=True).rstrip("¶") for h in soup.find_all("h2")]
    expected = PARTICIPANT_SECTIONS if name.startswith("participant") else SITE_SECTIONS
    if name == "programme.html":
        expected = [h.replace("of the movement", "of the movements") for h in SITE_SECTIONS]
    assert headings == expected


def test_participant_summary_is_plain_language(rendered) -> None:
    text = _soup(rendered, f"participant-{SITE}.html").get_text(" ")
    for jargon in ("p-value", "p =", "confidence interval", "95%", "odds ratio", "SMD",
                   "standardised", "SWEMWBS", "regression"):  # fmt: skip
        assert jargon not in text
    assert "likely somewhere between" in text
    assert "What happens next" in text


@pytest.mark.parametrize(
    ("name", "sections"),
    [(f"site-{SITE}.pdf", SITE_SECTIONS), (f"participant-{SITE}.pdf", PARTICIPANT_SECTIONS)],
)
def test_pdf_has_the_expected_sections(rendered, name: str, sections: list[str]) -> None:
    reader = PdfReader(rendered[2][name])
    title, chapters = reader.outline[0], reader.outline[1]  # level 1, then its level-2 headings
    site_name = next(d.site_name for d in SITE_DESIGNS if d.site_id == SITE)
    assert title.title in {  # the site by name, never its code
        f"{site_name}: what changed, and what was intended",
        f"{site_name}: what we found together",
    }
    assert [item.title for item in chapters if not isinstance(item, list)] == sections
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Figure 1: png" not in text
    assert "No description" not in text
    for section in sections:
        assert section.split(" (")[0] in text


def test_uploaded_text_is_shown_never_run_or_formatted() -> None:
    from reval.reporting.present import plain

    story = '<script>alert(1)</script> =HYPERLINK("x") **bold** [link](http://x) $x$ | cell'
    shown = plain(story)
    assert "<script>" not in shown
    assert "\\<script\\>" in shown
    for marker in ("\\*\\*bold\\*\\*", "\\[link\\]", "\\$x\\$", "\\|"):
        assert marker in shown


def test_a_report_of_a_run_shows_that_runs_answers_not_later_uploads(rendered) -> None:
    """Agreement bars and the EMPOWERS profile are stored with the run: deleting the
    survey answers afterwards does not change what a report of the run draws."""
    from reval.reporting.inputs import report_inputs

    settings, run_id, _ = rendered
    before = report_inputs(settings, run_id, SITE)
    with Warehouse(settings.warehouse_path) as warehouse:
        shares = warehouse.con.execute(
            "SELECT count(*) FROM agreement_counts WHERE run_id = ? AND site_id = 'all'", [run_id]
        ).fetchone()[0]
        warehouse.con.execute(
            "UPDATE survey_responses SET _superseded_by = 'test' WHERE site_id = ?", [SITE]
        )
    after = report_inputs(settings, run_id, SITE)
    assert shares > 0
    pd.testing.assert_frame_equal(before.statement_shares, after.statement_shares)
    pd.testing.assert_frame_equal(before.empowers, after.empowers)
    assert after.stories.empty  # stories are read as they stand now


def test_reports_carry_the_programme_title_and_the_site_name(rendered) -> None:
    programme = _soup(rendered, "programme.html")
    assert programme.title.get_text() == (
        "Health as a Social Movement: what changed, and what was intended"
    )
    assert programme.h1.get_text(strip=True).rstrip("¶").startswith("Health as a Social Movement")
    site = _soup(rendered, f"site-{SITE}.html")
    assert site.h1.get_text(strip=True).rstrip("¶") == (
        "Wellbeing Erewash: what changed, and what was intended"
    )
    assert "Site report of Health as a Social Movement" in site.get_text(" ")


def test_matched_table_has_a_status_column_only_when_a_model_failed() -> None:
    """'ok' on every row said nothing (seen in the screenshots); a failed model is named."""
    rows = pd.DataFrame({
        "site_id": ["s", "s"], "measure": ["ae_visits", "ae_visits"],
        "kind": ["did", "matched_rate_ratio"], "estimate": [0.1, 0.9], "ci_low": [-0.1, 0.8],
        "ci_high": [0.3, 1.1], "n": [100, 100], "status": ["ok", "ok"],
    })  # fmt: skip
    assert "Status" not in content.matched_table(rows).columns
    failed = content.matched_table(rows.assign(status=["ok", "failed"]))
    assert failed["Status"].tolist() == ["ok", "failed"]


def test_site_rows_run_all_sites_first_then_by_name() -> None:
    """Sorted by code, "All sites" and the names fell in an order a reader could not follow
    (seen in the screenshots): all sites together first, then the sites by name."""
    before = dict(content._SITE_NAMES)
    content.use_site_names({"aaa": "Zulu Health", "zzz": "Alpha Care"})
    try:
        rows = pd.DataFrame({
            "site_id": ["aaa", "all", "zzz"], "measure": "swemwbs", "kind": "survey_change",
            "wave": 1, "estimate": [0.1, 0.2, 0.3], "ci_low": 0.0, "ci_high": 0.5, "n": 10,
        })  # fmt: skip
        assert content.change_table(rows)["Site"].tolist() == [
            "All sites",
            "Alpha Care",
            "Zulu Health",
        ]
        labels = content.effect_rows(rows, "survey_change", by_site=True)["label"].tolist()
        assert [label.split(" - ")[0] for label in labels] == [
            "All sites",
            "Alpha Care",
            "Zulu Health",
        ]
    finally:
        content.use_site_names(before)
