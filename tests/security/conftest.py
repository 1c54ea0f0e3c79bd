"""One attacked workspace for the whole attack suite (rendering is the expensive part, so
it happens once): the sample catalogue and one sample site, then every hostile value in
every text column of every table, uploaded with consent through the normal ingest path,
evaluated, and every report kind rendered once as HTML and PDF. The fix-up workbook of
every hostile upload and the site templates are written too."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from reval.config import SAMPLE_DATA_DIR, Settings
from reval.contract import TABLES, TableName, table_schema
from reval.pipeline import (
    IngestReport,
    evaluate,
    ingest_file,
    init_workspace,
    render_reports,
    write_fixes,
)
from reval.site_templates import write_templates
from reval.warehouse import Warehouse
from tests.security.corpus import COMBINED, HOSTILE, NUL_VALUE

SITE = "gm_cancer"
HOSTILE_FILE_NAME = (
    "harvested <img src=x onerror=alert(1)> @nurse_jo $x^$ E=mc^2^ www.evil.example.csv"
)
FUTURE = dt.date(2031, 1, 1)  # events after today: the participant summary lists them
SESSIONS = ("2030-01-01", "2030-06-01")  # value items invisible, then visible


@pytest.fixture
def one_site(settings: Settings) -> Settings:
    """A fresh workspace that knows one site (``SITE``), so that site's uploads can load."""
    init_workspace(settings)
    sites = settings.home.parent / "sites.csv"
    sites.write_text("site_id,site_name,care_model,region,start_date\n"
                     f"{SITE},GM Cancer,Test model,North West,2016-04-01\n")  # fmt: skip
    assert ingest_file(settings, sites).status == "loaded"
    return settings


def text_columns(table: TableName) -> list[str]:
    """Every text column a site can fill in (pattern columns are numbers)."""
    schema = table_schema(table)
    return [name for name, column in schema.columns.items()
            if not column.regex and str(column.dtype).startswith(("str", "string"))]  # fmt: skip


@dataclass(frozen=True)
class Attacked:
    settings: Settings
    run_id: str
    uploads: dict[str, IngestReport]
    written: dict[str, Path]
    failed: dict[str, str]
    workbooks: list[Path]


def _hostile_rows(table: TableName, template: pd.DataFrame) -> pd.DataFrame:
    """One row per (text column, hostile value): the template row of the sample site with
    that one cell replaced and the row's key made unique."""
    base = template.iloc[[-1]].reset_index(drop=True)
    base = base.astype(object).assign(
        **{  # dates as the sites write them
            c: base[c].dt.strftime("%Y-%m-%d")
            for c in base.columns
            if pd.api.types.is_datetime64_any_dtype(base[c])
        }
    )
    rows = []
    serial = itertools.count(1)
    for column, value in itertools.product(text_columns(table), HOSTILE):
        n = next(serial)
        row = base.copy()
        _unique_key(table, row, n)
        row.loc[0, column] = value
        if table == "value_items" and column == "item":
            before = row.copy()
            before.loc[0, ["session_date", "visibility"]] = [SESSIONS[0], "invisible"]
            rows.append(before)
        rows.append(row)
    return pd.concat(rows, ignore_index=True)


def _unique_key(table: TableName, row: pd.DataFrame, n: int) -> None:
    """Give the row a key no other row has, keeping it valid and shown in the reports."""
    if table == "sites":
        pass  # one row per site: these all repeat the sample site, so stay in the fix-up workbook
    elif table == "paradigm_statements":
        row.loc[0, "item"] = f"hostile_{n:03d}"
    elif table == "intended_outcomes":
        row.loc[0, "outcome_id"] = f"H{n:03d}"
    elif table == "survey_responses":
        row.loc[0, ["response_id", "respondent_id", "consent_story"]] = [
            f"HR{n:03d}",
            f"HP{n:03d}",
            "yes",
        ]
        row.loc[0, ["story_text", "story_valence", "story_expected"]] = [
            f"Hostile story number {n}",
            1,
            "no",
        ]
    elif table == "comparison_records":
        row.loc[0, "person_id"] = f"HC{n:03d}"
    elif table == "value_items":
        row.loc[0, ["session_date", "visibility", "story_id", "item"]] = [
            SESSIONS[1],
            "visible",
            "hostile_story",
            f"hostile item {n}",
        ]
    elif table == "harvested_outcomes":
        row.loc[0, ["description", "anticipated"]] = [f"Hostile harvested outcome {n}", "no"]
    elif table == "events":
        row.loc[0, "event_date"] = f"{FUTURE + dt.timedelta(days=n):%Y-%m-%d}"


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    # every field quoted: a bare CR in an unquoted field is a reader problem, not this suite's
    frame.to_csv(path, index=False, date_format="%Y-%m-%d", quoting=csv.QUOTE_ALL)
    return path


@pytest.fixture(scope="session")
def attacked(tmp_path_factory) -> Attacked:
    root = tmp_path_factory.mktemp("attack")
    settings = Settings(home=root / "workspace")
    init_workspace(settings)
    uploads: dict[str, IngestReport] = {}
    sample = pd.read_excel(
        SAMPLE_DATA_DIR / "workbooks" / f"{SITE}.xlsx", sheet_name=None, engine="calamine"
    )
    for path in (
        SAMPLE_DATA_DIR / "paradigm_statements.csv",
        SAMPLE_DATA_DIR / "workbooks" / f"{SITE}.xlsx",
    ):
        report = ingest_file(settings, path)
        assert report.fully_accepted, report.summary()
    catalogue = pd.read_csv(SAMPLE_DATA_DIR / "paradigm_statements.csv")
    templates = {**sample, "paradigm_statements": catalogue}
    for table in TABLES:
        if not text_columns(table):
            continue
        frame = _hostile_rows(table, templates[table])
        name = HOSTILE_FILE_NAME if table == "harvested_outcomes" else f"hostile {table}.csv"
        path = _write_csv(frame, root / f"{table}.csv")
        uploads[table] = ingest_file(settings, path, original_name=name)
    # one value per key where the report shows one: the site's name, a charted statement
    site = templates["sites"].iloc[[0]].copy()
    site.loc[:, ["site_name", "care_model", "region"]] = COMBINED
    statement = catalogue.iloc[[0]].copy()
    statement.loc[:, "statement"] = COMBINED
    nul = templates["harvested_outcomes"].iloc[[0]].copy()
    nul.loc[:, ["description", "anticipated"]] = [NUL_VALUE, "no"]
    for key, frame in {"site name": site, "statement": statement, "nul": nul}.items():
        uploads[key] = ingest_file(settings, _write_csv(frame, root / f"{key}.csv"))
    run_id, _ = evaluate(settings)
    rendered = render_reports(
        settings, run_id, kinds=("programme", "site", "participant"), site_id=SITE
    )
    fixes = root / "fixes"
    fixes.mkdir()
    workbooks = [write_fixes(settings, report.ingest_id, fixes / f"{key}.xlsx")
                 for key, report in uploads.items()]  # fmt: skip
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        current_catalogue = warehouse.current("paradigm_statements")
    workbooks += write_templates(root / "templates", current_catalogue)
    return Attacked(settings, run_id, uploads, rendered.written, rendered.failed, workbooks)
