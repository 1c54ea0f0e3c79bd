"""Blank templates: one per table, instructions, and dropdowns that match the schemas."""

from __future__ import annotations

import openpyxl
import pytest
from openpyxl.worksheet.datavalidation import DataValidation

from reval import contract
from reval.ingest.readers import read_tables
from reval.site_templates import TemplateFor, template_columns, write_templates


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
    headers = {cell.column_letter: cell.value for cell in sheet[2]}
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
    headings = [c.value for c in book[table][2]]
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
    for heading in [c.value for c in book[table][2]]:
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
        assert str(validation.sqref).split(":")[0].endswith("3")  # under the headings (row 2)
        checked += 1
    categorical = [n for n, c in contract.table_schema(table).columns.items()
                   if "isin" in contract.column_checks(c) or contract.column_answer_scale(c)]  # fmt: skip
    assert checked >= len(categorical)


def test_survey_template_expands_paradigm_items_and_offers_likert_labels(
    template_dir, statements
) -> None:
    book = openpyxl.load_workbook(template_dir / "survey_responses.xlsx")
    headings = [c.value for c in book["survey_responses"][2]]
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


def test_a_sites_template_has_its_site_filled_in_and_locked(tmp_path, statements) -> None:
    """Its site_id is filled in on every row and locked; the paradigm statements are
    written above their columns; rows with nothing but the site are not records."""
    out = write_templates(tmp_path, statements, audience=TemplateFor(
        "wellbeing_erewash", "Wellbeing Erewash", ("gm_cancer", "wellbeing_erewash")))  # fmt: skip
    book = openpyxl.load_workbook(tmp_path / "survey_responses.xlsx")
    sheet = book["survey_responses"]
    headings = [c.value for c in sheet[2]]
    site = headings.index("site_id") + 1
    assert [sheet.cell(row=r, column=site).value for r in (3, 4, 2001)] == ["wellbeing_erewash"] * 3
    assert sheet.protection.sheet
    assert sheet.cell(row=3, column=site).protection.locked
    other = sheet.cell(row=3, column=site + 1).column_letter  # blank cells take their column's
    assert not next(d for d in sheet.column_dimensions.values()
                    if d.min <= site + 1 <= d.max).protection.locked  # fmt: skip
    assert other != "A"
    item = statements["item"].iloc[0]
    text = sheet.cell(row=1, column=headings.index(f"para_{item}_now") + 1).value
    assert f"'{statements['statement'].iloc[0]}'" in text
    assert "Wellbeing Erewash" in " ".join(str(c.value) for c in book["instructions"]["A"])
    assert "site_id" not in _column_validations(sheet)  # nothing to pick: it is filled in
    sheet.cell(row=3, column=headings.index("response_id") + 1, value="WE-1")
    book.save(tmp_path / "filled.xlsx")
    (table,) = read_tables(tmp_path / "filled.xlsx").tables
    assert list(table.frame.index) == [3]
    assert table.frame.loc[3, "site_id"] == "wellbeing_erewash"
    assert [p.name for p in out] == [f"{t}.xlsx" for t in contract.TABLES]


def test_a_template_for_any_site_offers_the_sites_as_a_dropdown(tmp_path, statements) -> None:
    write_templates(tmp_path, statements, audience=TemplateFor(sites=("gm_cancer", "halton")))
    book = openpyxl.load_workbook(tmp_path / "events.xlsx")
    validation = _column_validations(book["events"])["site_id"]
    assert _list_values(book, validation) == ["gm_cancer", "halton"]
    assert not book["events"].protection.sheet


def test_the_templates_command_makes_a_sites_templates(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from reval.cli import app

    monkeypatch.setenv("REVAL_HOME", str(tmp_path / "ws"))
    result = CliRunner().invoke(app, ["templates", str(tmp_path / "t"), "--site", "halton"])
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(tmp_path / "t" / "events.xlsx")["events"]
    assert sheet.cell(row=3, column=1).value == "halton"
