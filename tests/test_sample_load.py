"""Loading the sample programme into a fresh warehouse: every row exactly once."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from reval.config import Settings
from reval.contract import TABLES
from reval.pipeline import load_sample_data, sample_data_files
from reval.warehouse import Warehouse


@pytest.fixture(scope="module")
def loaded_once(tmp_path_factory) -> tuple[Settings, list]:
    settings = Settings(home=tmp_path_factory.mktemp("sample-load") / "workspace")
    return settings, load_sample_data(settings)


@pytest.fixture
def loaded(loaded_once, tmp_path) -> tuple[Settings, list]:
    """The sample loaded once per module; each test works on its own copy of the workspace."""
    original, reports = loaded_once
    home = tmp_path / "workspace"
    shutil.copytree(original.home, home, ignore=shutil.ignore_patterns("*.lock"))
    return Settings(home=home), reports


def test_every_sample_row_lands_exactly_once(loaded, programme) -> None:
    settings, reports = loaded
    assert [r.status for r in reports] == ["loaded"] * len(sample_data_files())
    assert all(r.problems == [] for r in reports)
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        counts = warehouse.row_counts()
        for table in TABLES:
            assert counts[table] == len(programme.tables[table]), table
        survey = warehouse.current("survey_responses")
        records = warehouse.current("comparison_records")
    assert survey["response_id"].is_unique
    # the open-ended columns come back wide, with the same values
    expected = programme.tables["survey_responses"].set_index("response_id")
    got = survey.set_index("response_id").loc[expected.index]
    for column in (
        "para_community_has_what_it_takes_now",
        "para_decided_for_us_before",
        "swemwbs_4",
    ):
        pd.testing.assert_series_equal(got[column].astype("Float64"), expected[column].astype("Float64"),
                                       check_names=False)  # fmt: skip
    truth = programme.tables["comparison_records"].set_index("person_id")["post_ae_visits"]
    assert (
        records.set_index("person_id").loc[truth.index, "post_ae_visits"].tolist() == truth.tolist()
    )


def test_loading_the_same_files_again_adds_nothing(loaded) -> None:
    settings, _ = loaded
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        before = warehouse.row_counts()
    again = load_sample_data(settings)
    assert {r.status for r in again} == {"duplicate"}
    assert "already loaded" in again[0].summary()
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        assert warehouse.row_counts() == before
        assert (warehouse.ingests()["status"] == "duplicate").sum() == len(again)


def test_raw_files_are_archived_byte_for_byte(loaded) -> None:
    settings, reports = loaded
    for report, path in zip(reports, sample_data_files(), strict=True):
        archived = settings.archive_dir / report.sha256[:2] / f"{report.sha256}{path.suffix}"
        assert archived.read_bytes() == path.read_bytes()


def test_lineage_points_back_to_the_source_row(loaded) -> None:
    settings, _reports = loaded
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        row = warehouse.con.execute(
            "SELECT s._source_sheet, s._source_row, i.original_filename, i.schema_version "
            "FROM survey_responses s JOIN ingests i ON s._ingest_id = i.ingest_id "
            "WHERE s.response_id = 'GM-0001-W0'"
        ).fetchone()
    assert row[0] == "survey_responses"
    assert row[2] == "gm_cancer.xlsx"
    source = pd.read_excel(
        next(p for p in sample_data_files() if p.name == "gm_cancer.xlsx"),
        sheet_name="survey_responses",
        engine="calamine",
    )
    # row numbers are as the coordinator sees them: header on row 1, data from row 2
    assert source.loc[row[1] - 2, "response_id"] == "GM-0001-W0"


def test_a_corrected_upload_supersedes_earlier_rows_and_keeps_history(loaded, tmp_path) -> None:
    settings, _ = loaded
    from reval.pipeline import ingest_file

    fix = tmp_path / "sites.csv"
    fix.write_text(
        "site_id,site_name,care_model,region,start_date\n"
        "gm_cancer,Greater Manchester Cancer Vanguard,Cancer prevention,North West,01/08/2016\n",
        encoding="utf-8",
    )
    report = ingest_file(settings, fix)
    assert report.status == "loaded"
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        current = warehouse.current("sites", "gm_cancer")
        history = warehouse.con.execute(
            "SELECT count(*) FROM sites WHERE site_id = 'gm_cancer'"
        ).fetchone()[0]
    assert len(current) == 1
    assert str(current.loc[0, "start_date"])[:10] == "2016-08-01"
    assert history == 2
