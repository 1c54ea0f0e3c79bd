"""Blank templates: one per table, instructions, and dropdowns that match the schemas."""

from __future__ import annotations

import openpyxl
import pytest
from openpyxl.worksheet.datavalidation import DataValidation

from reval import contract
from reval.ingest.readers import read_tables
from reval.site_templates import template_columns, write_templates


@pytest.fixture(scope="module")
def template_dir(tmp_path_factory, statements):
    out = tmp_path_factory.mktemp("templates")
    write_templates(out, statements)
    return out


def _list_values(book, validation: DataValidation) -> list[str]:
    sheet_name, cells = validation.formula1.split("!")
    first, last = cells.replace("$", "").split(":")
    return [c.value for row in book[sheet_name][first:last] for c in row]


def _column_validations(sheet) -> dict[str, DataValidation]:
    headers = {cell.column_letter: cell.value for cell in sheet[1]}
    out = {}
    for validation in sheet.data_validations.dataValidation:
        for rng in validation.sqref.ranges:
            letter = rng.coord.split(":")[0].rstrip("0123456789")
            out[headers[letter]] = validation
    return out


@pytest.mark.parametrize("table", contract.TABLES)
def test_template_has_instructions_and_every_column(template_dir, statements, table) -> None:
    book = openpyxl.load_workbook(template_dir / f"{table}.xlsx")
    assert book.sheetnames[:2] == ["instructions", table]
    assert book["lists"].sheet_state == "hidden"
    headings = [c.value for c in book[table][1]]
    expected = [name for name, _ in template_columns(table, statements["item"].tolist(),
                                                     ["ae_visits", "gp_contacts", "admissions", "wellbeing"])]  # fmt: skip
    assert headings == expected
    guide_columns = {row[0].value for row in book["instructions"].iter_rows()}
    assert set(headings) <= guide_columns


@pytest.mark.parametrize("table", contract.TABLES)
def test_dropdowns_match_the_schema(template_dir, table) -> None:
    book = openpyxl.load_workbook(template_dir / f"{table}.xlsx")
    validations = _column_validations(book[table])
    checked = 0
    for heading in [c.value for c in book[table][1]]:
        column = contract.schema_column_for(table, heading)
        scale = contract.column_answer_scale(column)
        checks = contract.column_checks(column)
        if scale is not None:
            expected = list(scale.labels) if scale.labels else [str(v) for v in scale.values]
            kind_of_error = "warning"  # numbers are accepted too
        elif "isin" in checks:
            expected = [str(v) for v in checks["isin"]["allowed_values"]]
            kind_of_error = "stop"
        else:
            continue
        validation = validations[heading]
        assert validation.type == "list"
        assert _list_values(book, validation) == expected, heading
        allowed_styles = {"warning"} if kind_of_error == "warning" else {"stop", None}
        assert validation.errorStyle in allowed_styles, heading
        assert "2:" in str(validation.sqref) or str(validation.sqref).endswith("2001")
        checked += 1
    categorical = [n for n, c in contract.table_schema(table).columns.items()
                   if "isin" in contract.column_checks(c) or contract.column_answer_scale(c)]  # fmt: skip
    assert checked >= len(categorical)


def test_survey_template_expands_paradigm_items_and_offers_likert_labels(
    template_dir, statements
) -> None:
    book = openpyxl.load_workbook(template_dir / "survey_responses.xlsx")
    headings = [c.value for c in book["survey_responses"][1]]
    for item in statements["item"]:
        assert f"para_{item}_now" in headings
        assert f"para_{item}_before" in headings
    validation = _column_validations(book["survey_responses"])["swemwbs_1"]
    assert _list_values(book, validation)[-1] == "All of the time"


def test_numeric_ranges_and_dates_are_checked_in_the_sheet(template_dir) -> None:
    book = openpyxl.load_workbook(template_dir / "comparison_records.xlsx")
    validations = _column_validations(book["comparison_records"])
    assert validations["imd_decile"].type == "whole"
    assert (validations["imd_decile"].formula1, validations["imd_decile"].formula2) == ("1", "10")
    book = openpyxl.load_workbook(template_dir / "events.xlsx")
    assert _column_validations(book["events"])["event_date"].type == "date"


def test_blank_template_reads_as_no_rows_not_as_an_error(template_dir) -> None:
    result = read_tables(template_dir / "survey_responses.xlsx")
    assert result.problems == []
    assert [(t.table, len(t.frame)) for t in result.tables] == [("survey_responses", 0)]
