"""The portal follows the workspace's programme file, not the sample's: for Neighbours in
Health (WEMWBS and ONS4, its own roles and age bands, its own title) the pages carry its
title, the templates a site downloads have its instruments' columns and its categories in
the dropdowns, and so has the fix-up workbook of rejected rows."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import openpyxl
import pytest
from fastapi.testclient import TestClient

from reval.config import SAMPLE_DATA_DIR, Settings
from reval.pipeline import ingest_file, init_workspace
from reval.portal import create_app
from reval.portal.access import TokenStore
from reval.second_programme import AGE_BANDS, PROGRAMME_YAML, ROLES, SITES, TITLE
from tests.test_portal import _client, sign_in, upload

SITE = "halton-wellbeing"
WEMWBS = [f"wemwbs_{i}" for i in range(1, 15)]
ONS4 = [f"ons4_{i}" for i in range(1, 5)]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("portal-neighbours") / "workspace"
    settings = Settings(home=home)
    init_workspace(settings)
    (home / "programme.yaml").write_text(PROGRAMME_YAML, encoding="utf-8")
    sites = home.parent / "sites.csv"
    sites.write_text("site_id,site_name,care_model,region,start_date\n" + "".join(
        f"{s.design.site_id},{s.design.site_name},Test model,North West,2016-04-01\n"
        for s in SITES), encoding="utf-8")  # fmt: skip
    assert ingest_file(settings, sites).status == "loaded"
    assert ingest_file(settings, SAMPLE_DATA_DIR / "paradigm_statements.csv").status == "loaded"
    return settings


@pytest.fixture(scope="module")
def token(settings: Settings) -> str:
    return TokenStore(settings.portal_dir / "tokens.json").create("site", site_id=SITE)


@pytest.fixture
def client(settings: Settings, token: str) -> Iterator[TestClient]:
    with _client(create_app(settings)) as client:
        assert sign_in(client, token).status_code == 303
        yield client


def _lists(book: openpyxl.Workbook) -> set[str]:
    return {str(c.value) for row in book["lists"].iter_rows() for c in row if c.value is not None}


def test_pages_carry_the_programmes_title_and_name_the_site(client: TestClient) -> None:
    home = client.get("/")
    assert TITLE in home.text
    assert "Health as a Social Movement" not in home.text
    assert "<h1>Upload data for Halton Wellbeing Circle</h1>" in home.text
    assert "Signed in as <strong>Halton Wellbeing Circle</strong>" in home.text
    assert "Only rows for Halton Wellbeing Circle can be loaded" in home.text


def test_the_survey_template_has_the_programmes_instruments_and_categories(
    client: TestClient,
) -> None:
    response = client.get("/templates/survey_responses.xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.properties.title.startswith(TITLE)
    headings = [c.value for c in book["survey_responses"][2] if c.value]
    assert [h for h in headings if re.match(r"(wemwbs|ons4)_", h)] == WEMWBS + ONS4
    assert not [h for h in headings if h.startswith(("swemwbs_", "ucla_", "emp_"))]
    choices = _lists(book)
    assert set(ROLES) <= choices
    assert set(AGE_BANDS) <= choices
    assert "resident" not in choices  # the sample's roles are not this programme's
    site = headings.index("site_id") + 1
    assert book["survey_responses"].cell(row=3, column=site).value == SITE
    guide = " ".join(
        str(c.value) for row in book["instructions"].iter_rows() for c in row if c.value
    )
    assert "This programme's waves: 0 = baseline, 1 = six months, 2 = one year." in guide


def test_the_fix_up_workbook_follows_the_programme_too(client: TestClient) -> None:
    header = ["response_id", "respondent_id", "site_id", "wave", "response_date", "role",
              "age_band", "sex", "imd_quintile", *WEMWBS, *ONS4, "para_professionals_know_best_now"]  # fmt: skip
    rows = [
        ["HW-1-0", "HW1", SITE, 0, "2016-06-01", "member", "25-44", "female", 3, *[3] * 14, 7, 7, 7, 3, 2],
        ["HW-2-0", "HW2", SITE, 0, "2016-06-01", "resident", "30-39", "male", 2, *[4] * 14, 6, 6, 6, 4, 3],
    ]  # fmt: skip
    csv = "\n".join(",".join(map(str, line)) for line in [header, *rows]) + "\n"
    response = upload(client, "survey.csv", csv.encode())
    assert response.status_code == 200
    assert "member, organiser, volunteer" in response.text  # what to write instead: its roles
    fixes = re.search(r'href="(/uploads/[0-9a-f]+/fixes\.xlsx)"', response.text)
    assert fixes, response.text
    book = openpyxl.load_workbook(io.BytesIO(client.get(fixes[1]).content))
    sheet = book.worksheets[1]
    headings = [c.value for c in sheet[1] if c.value]
    assert [h for h in headings if re.match(r"(wemwbs|ons4)_", h)] == WEMWBS + ONS4
    assert headings.index("role") < headings.index("wemwbs_1") < headings.index("ons4_1")
    choices = _lists(book)
    assert set(ROLES) <= choices
    assert set(AGE_BANDS) <= choices
    assert "resident" not in choices
    assert "carer" not in choices
