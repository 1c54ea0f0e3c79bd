"""The standing attack suite: every hostile value of the corpus, in every text column of
every table, uploaded with consent through the normal ingest path; every report kind
rendered; every workbook reval writes read back. Nothing from an upload may become
markup, a link, maths, a citation, a Typst call, file content or a formula, and every
value a report shows must read exactly as written."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

from reval.inert import BIDI_CONTROLS, inert
from reval.reporting import content
from reval.reporting.inputs import report_inputs
from reval.warehouse import Warehouse
from tests.security.conftest import SITE, Attacked
from tests.security.corpus import COMBINED, HOSTILE, NUL_VALUE, PASSWD, as_shown, squeeze

OOXML_ESCAPE = re.compile(r"_x([0-9A-F]{4})_")  # how a workbook stores a control character
REPORTS = ("programme", f"site-{SITE}", f"participant-{SITE}")
MARKUP_TAGS = {"script", "iframe", "frame", "object", "embed", "svg", "math", "form", "input",
               "button", "textarea", "video", "audio", "base", "link", "source"}  # fmt: skip


def _html(attacked: Attacked, report: str) -> BeautifulSoup:
    return BeautifulSoup(
        attacked.written[f"{report}.html"].read_text(encoding="utf-8"), "html.parser"
    )


def _pdf_text(attacked: Attacked, report: str) -> str:
    return "\n".join(
        page.extract_text() for page in PdfReader(attacked.written[f"{report}.pdf"]).pages
    )


def _shown_values(attacked: Attacked, report: str) -> set[str]:
    """The hostile values this report shows, chosen by the same content functions the
    report uses (stories are a sample; harvested outcomes and coming events are all shown)."""
    site = None if report == "programme" else SITE
    data = report_inputs(attacked.settings, attacked.run_id, site)
    unintended = data.unintended[data.unintended["source"] == "harvested"]
    shown = set(unintended["what"])
    if report == "programme":
        shown |= {
            s
            for site_id in data.site_ids
            for s in content.chosen_stories(data.stories, site_id, limit=2)
        }
    else:
        shown |= set(content.chosen_stories(data.stories, SITE)) | {data.site_name(SITE)}
    if report.startswith("site"):
        shown |= set(content.moved_items(data.value_items, SITE)[1])
    if report.startswith("participant"):
        coming = data.events[pd.to_datetime(data.events["event_date"]) > pd.Timestamp.now()]
        shown |= set(coming["description"])
    return {value for value in shown if value in HOSTILE or value == COMBINED}


def test_every_report_kind_renders_in_spite_of_every_hostile_value(attacked: Attacked) -> None:
    assert attacked.failed == {}
    assert set(attacked.written) == {f"{r}.{fmt}" for r in REPORTS for fmt in ("html", "pdf")}
    latest = attacked.settings.reports_dir / "latest"
    assert {p.name for p in latest.iterdir()} >= set(attacked.written)


def test_hostile_values_were_accepted_where_the_contract_allows_free_text(
    attacked: Attacked,
) -> None:
    """The suite attacks the pages only if the values got in: each free-text column
    stored them (and each code column refused them, which the workbook tests read)."""
    with Warehouse(attacked.settings.warehouse_path, read_only=True) as warehouse:
        stored = {table: warehouse.current(table) for table in
                  ("harvested_outcomes", "events", "survey_responses", "value_items", "sites")}  # fmt: skip
    for table, column in [("harvested_outcomes", "description"), ("events", "description"),
                          ("events", "event_type"), ("survey_responses", "story_text"),
                          ("value_items", "item")]:  # fmt: skip
        # ingest trims and joins lines; the characters are kept
        missing = {as_shown(v) for v in HOSTILE if 5 <= len(v) <= 300} - set(
            stored[table][column].dropna().map(as_shown)
        )
        assert not missing, f"{table}.{column} did not store {sorted(missing)[:3]}"
    assert COMBINED in set(stored["sites"]["site_name"])


@pytest.mark.parametrize("report", REPORTS)
def test_no_markup_link_or_script_from_an_upload_in_the_html(
    attacked: Attacked, report: str
) -> None:
    soup = _html(attacked, report)
    tags = soup.find_all(True)
    assert not [t.name for t in tags if t.name in MARKUP_TAGS]
    for link in soup.find_all("a"):  # only nbconvert's heading anchors: "#Heading" and a pilcrow
        assert link.get("class") == ["anchor-link"], link
        assert link["href"].startswith("#"), link
        assert link.get_text() == "¶", link
    for image in soup.find_all("img"):  # only reval's figures, embedded
        assert image["src"].startswith("data:image/png;base64,"), str(image)[:200]
    for tag in tags:
        for name, value in tag.attrs.items():
            assert not name.lower().startswith("on"), (tag.name, name)
            text = " ".join(value) if isinstance(value, list) else str(value)
            assert "javascript:" not in text.lower().replace(" ", ""), (tag.name, name)
    assert not BIDI_CONTROLS & set(soup.get_text()), "a bidirectional override reached the page"


@pytest.mark.parametrize("report", REPORTS)
def test_html_shows_every_hostile_value_as_written(attacked: Attacked, report: str) -> None:
    shown = _shown_values(attacked, report)
    assert len(shown) >= 10, "the report must show hostile values for this test to mean anything"
    text = squeeze(_html(attacked, report).get_text())
    missing = [v for v in shown if squeeze(as_shown(v)) not in text]
    assert not missing, f"not shown as written: {missing[:5]}"


@pytest.mark.parametrize("report", REPORTS)
def test_pdf_shows_every_hostile_value_as_written_and_no_file_content(
    attacked: Attacked, report: str
) -> None:
    text = _pdf_text(attacked, report)
    shown = _shown_values(attacked, report)
    missing = [v for v in shown if squeeze(as_shown(v)) not in squeeze(text)]
    assert not missing, f"not shown as written: {missing[:5]}"
    secrets = [line for line in Path(PASSWD).read_text().splitlines() if line.strip()]
    assert secrets
    assert not [line for line in secrets if line in text]
    assert not BIDI_CONTROLS & set(text)


@pytest.mark.parametrize("report", REPORTS)
def test_pdf_embeds_only_the_reports_own_figures(attacked: Attacked, report: str) -> None:
    """``#image(...)`` from an upload would add a picture: the PDF has exactly the figures
    the HTML has."""
    figures = len(_html(attacked, report).find_all("img"))
    pictures = sum(len(page.images) for page in PdfReader(attacked.written[f"{report}.pdf"]).pages)
    assert pictures == figures


def test_superscripts_maths_and_citations_are_not_typeset(attacked: Attacked) -> None:
    """The words around each construct survive intact in the PDF text: ``E=mc^2^`` keeps
    its carets, ``@nurse_jo`` its at sign, ``$x^$`` its dollars."""
    text = _pdf_text(attacked, f"site-{SITE}")
    for literal in (
        "E=mc^2^",
        "@nurse_jo",
        "$x^$",
        "H~2~O",
        "https://evil.example/phish",
        "www.evil.example",
    ):
        assert literal in text


def test_a_file_with_a_nul_byte_is_refused_with_a_plain_reason(attacked: Attacked) -> None:
    refused = attacked.uploads["nul"]
    assert refused.status == "refused"
    assert "Traceback" not in refused.summary()
    for path in attacked.written.values():
        assert b"\x00byte" not in path.read_bytes()
    assert NUL_VALUE not in _pdf_text(attacked, f"site-{SITE}")


def _cells(path: Path) -> list[openpyxl.cell.Cell]:
    workbook = openpyxl.load_workbook(path)
    return [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row
            if cell.value is not None]  # fmt: skip


def test_no_workbook_reval_writes_holds_a_formula(attacked: Attacked) -> None:
    assert len(attacked.workbooks) >= 10
    for path in attacked.workbooks:
        formulas = [(c.coordinate, c.value) for c in _cells(path) if c.data_type == "f"]
        assert not formulas, f"{path.name}: {formulas[:3]}"


@pytest.mark.parametrize("table", ["sites", "paradigm_statements", "intended_outcomes", "survey_responses",
                                   "comparison_records", "value_items", "harvested_outcomes", "events"])  # fmt: skip
def test_fix_up_workbook_holds_every_hostile_value_as_text(attacked: Attacked, table: str) -> None:
    """Every value is refused at least in the table's code column, so the workbook the
    site corrects holds each one, as a text cell with the value as written."""
    path = next(p for p in attacked.workbooks if p.parent.name == "fixes" and p.stem == table)
    texts = {
        OOXML_ESCAPE.sub(lambda m: chr(int(m[1], 16)), c.value)
        for c in _cells(path)
        if c.data_type == "s"
    }
    missing = [v for v in HOSTILE if inert(v, "cell") not in texts]
    assert not missing, f"{table}: not held as text: {missing[:5]}"
