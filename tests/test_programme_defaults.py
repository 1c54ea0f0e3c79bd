"""Defaults that fit real programmes with no configuration: slug site codes, any age bands
written N-M or N+, and overlapping bands said once, not once per row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reval.config import SAMPLE_DATA_DIR
from reval.contract import age_band_limits, overlapping_age_bands, table_schema
from reval.ingest.cleaning import clean_table
from reval.ingest.readers import read_tables
from reval.ingest.validation import validate_table
from reval.pipeline import ingest_file
from tests.test_error_messages import SURVEY_HEADER, _row

SITES_HEADER = "site_id,site_name,care_model,region,start_date"


def _validated(tmp_path: Path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (sheet,) = read_tables(path).tables
    return validate_table(clean_table(sheet))


@pytest.mark.parametrize("code", ["halton-wellbeing", "wellbeing_erewash", "site-2", "4ward-leeds"])
def test_slug_site_codes_are_accepted(tmp_path, code) -> None:
    validated = _validated(tmp_path, "sites.csv",
                           [SITES_HEADER, f"{code},A site,Community,North West,2020-01-01"])  # fmt: skip
    assert validated.problems == []
    assert validated.accepted["site_id"].tolist() == [code]


@pytest.mark.parametrize("code", ["Halton-Wellbeing", "-halton", "halton wellbeing", "x"])
def test_codes_that_are_not_slugs_are_refused_saying_what_a_slug_is(tmp_path, code) -> None:
    validated = _validated(tmp_path, "sites.csv",
                           [SITES_HEADER, f"{code},A site,Community,North West,2020-01-01"])  # fmt: skip
    (problem,) = validated.problems
    assert problem.column == "site_id"
    assert problem.row == 2
    assert "hyphens and underscores" in problem.message()


def test_every_site_scoped_table_takes_the_same_slug_rule() -> None:
    for table in ("sites", "survey_responses", "intended_outcomes", "comparison_records",
                  "value_items", "harvested_outcomes", "events"):  # fmt: skip
        column = table_schema(table).columns["site_id"]  # type: ignore[arg-type]
        stats = {c.name: c.statistics for c in column.checks}
        assert stats["str_matches"]["pattern"] == "^[a-z0-9][a-z0-9_-]{1,39}$", table


def test_any_age_bands_written_n_to_m_or_n_plus_are_accepted(tmp_path) -> None:
    bands = ["16-24", "25-44", "45-64", "65-74", "75+", "0-15"]
    rows = [_row(response_id=f"R{i}", respondent_id=f"P{i}", age_band=band)
            for i, band in enumerate(bands)]  # fmt: skip
    validated = _validated(tmp_path, "survey_responses.csv", [SURVEY_HEADER, *rows])
    assert validated.problems == []
    assert validated.accepted["age_band"].tolist() == bands


@pytest.mark.parametrize("band", ["24-16", "over 75", "75 plus", "16 to 24"])
def test_a_band_that_is_not_n_to_m_or_n_plus_is_refused_with_the_way_to_write_it(
    tmp_path, band
) -> None:
    validated = _validated(tmp_path, "survey_responses.csv", [SURVEY_HEADER, _row(age_band=band)])
    (problem,) = validated.problems
    assert (problem.row, problem.column, problem.value) == (2, "age_band", band)
    assert "N-M with the youngest age first" in problem.message()
    assert "75+" in problem.message()


def test_band_limits_and_overlaps() -> None:
    assert age_band_limits("75+") == (75, float("inf"))
    assert age_band_limits("16-24") == (16, 24)
    assert age_band_limits("24-16") is None
    assert overlapping_age_bands({"16-24", "25-44", "45-64", "65+"}) == []
    assert overlapping_age_bands({"16-24", "20-29", "70+", "65-74"}) == [
        ("16-24", "20-29"),
        ("65-74", "70+"),
    ]
    assert overlapping_age_bands({"16-24", "24-30"}) == [("16-24", "24-30")]  # 24 is in both


def _survey_file(folder: Path, name: str, bands: list[str], prefix: str) -> Path:
    rows = [_row(response_id=f"{prefix}{i}", respondent_id=f"{prefix}P{i}", age_band=band)
            for i, band in enumerate(bands)]  # fmt: skip
    path = folder / name
    path.write_text("\n".join([SURVEY_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_overlapping_bands_are_said_once_and_every_row_is_kept(settings, tmp_path) -> None:
    sites = tmp_path / "sites.csv"
    sites.write_text(f"{SITES_HEADER}\nstockport_together,Stockport,Community,North West,"
                     "2016-05-01\n", encoding="utf-8")  # fmt: skip
    ingest_file(settings, sites)
    ingest_file(settings, SAMPLE_DATA_DIR / "paradigm_statements.csv")
    bands = ["16-24"] * 12 + ["20-29"] * 9 + ["30-44"] * 3
    report = ingest_file(settings, _survey_file(tmp_path, "survey_responses.csv", bands, "A"))
    assert report.rows_accepted == len(bands)
    assert report.rows_rejected == 0
    assert report.status == "loaded"
    assert report.fully_accepted
    (note,) = report.problems
    assert note.reason == "overlapping_bands"
    assert note.row is None
    assert note.value == "20-29"
    assert "16-24" in note.expected
    assert "9 row(s)" in note.expected
    assert "1 note(s)" in report.summary()
    # a later upload using only the bands already stored is not told again
    again = ingest_file(
        settings, _survey_file(tmp_path, "survey_more.csv", ["16-24", "20-29"], "B")
    )
    assert again.problems == []
    assert again.rows_accepted == 2
    # a new band overlapping a stored one is said once, however many rows use it
    later = ingest_file(settings, _survey_file(tmp_path, "survey_late.csv", ["40+"] * 7, "C"))
    assert [(p.value, p.reason) for p in later.problems] == [("40+", "overlapping_bands")]
    assert "30-44" in later.problems[0].expected
    assert later.rows_accepted == 7


def test_a_programme_with_its_own_bands_loads_every_row(settings, tmp_path) -> None:
    bands = ["16-24", "25-44", "45-64", "65-74", "75+"] * 3
    frame = pd.DataFrame({"band": bands})
    report = ingest_file(settings, _survey_file(tmp_path, "survey_responses.csv",
                                                frame["band"].tolist(), "D"))  # fmt: skip
    assert [p.reason for p in report.problems if p.column == "age_band"] == []
