"""Every rejection names the file, sheet, row as the user sees it, column, value and
what was expected, in words a coordinator can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
import xlsxwriter

from reval.ingest.cleaning import clean_table
from reval.ingest.problems import Problem, belongs_elsewhere, group_problems, rows_text
from reval.ingest.readers import read_tables
from reval.ingest.validation import validate_table

SURVEY_HEADER = (
    "response_id,respondent_id,site_id,wave,response_date,role,age_band,sex,imd_quintile,"
    + ",".join(f"swemwbs_{i}" for i in range(1, 8))
    + ","
    + ",".join(f"ucla_{i}" for i in range(1, 4))
    + ","
    + "emp_empathises,emp_mobilises,emp_powers,emp_orbits,emp_waves,emp_experiments,emp_rages,"
    + "emp_selfgoverns,para_lived_experience_counts_now,para_decided_for_us_now,"
    + "para_decided_for_us_before"
)


def _row(**overrides: str) -> str:
    values = {
        "response_id": "ST-0001-W1", "respondent_id": "ST0001", "site_id": "stockport_together",
        "wave": "1", "response_date": "03/10/2017", "role": "resident", "age_band": "65-74",
        "sex": "female", "imd_quintile": "2",
        **{f"swemwbs_{i}": "3" for i in range(1, 8)}, **{f"ucla_{i}": "2" for i in range(1, 4)},
        **{k: "5" for k in ("emp_empathises", "emp_mobilises", "emp_powers", "emp_orbits",
                             "emp_waves", "emp_experiments", "emp_rages", "emp_selfgoverns")},
        "para_lived_experience_counts_now": "Agree", "para_decided_for_us_now": "2",
        "para_decided_for_us_before": "4",
    }  # fmt: skip
    values.update(overrides)
    return ",".join(values[c] for c in SURVEY_HEADER.split(","))


def _problems(tmp_path: Path, *rows: str, title: str | None = None) -> list[str]:
    path = tmp_path / "survey_responses.csv"
    lines = ([title, ""] if title else []) + [SURVEY_HEADER, *rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_tables(path)
    return [p.message() for t in result.tables for p in validate_table(clean_table(t)).problems]


def test_a_clean_row_has_no_problems_and_labels_become_numbers(tmp_path) -> None:
    path = tmp_path / "survey_responses.csv"
    path.write_text(SURVEY_HEADER + "\n" + _row(swemwbs_2=" often ") + "\n", encoding="utf-8")
    (sheet,) = read_tables(path).tables
    validated = validate_table(clean_table(sheet))
    assert validated.problems == []
    assert validated.accepted.loc[2, "swemwbs_2"] == 4
    assert validated.accepted.loc[2, "para_lived_experience_counts_now"] == 4


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"swemwbs_3": "Oftn"}, "survey_responses.csv, cell L2 (swemwbs_3): 'Oftn' is not an "
         "answer on this scale; use 1-5 or the words (1 = None of the time, 2 = Rarely, 3 = Some "
         "of the time, 4 = Often, 5 = All of the time)."),
        ({"response_date": "03/10/17"}, "survey_responses.csv, cell E2 (response_date): '03/10/17' "
         "is not a date reval can read; write it as 2016-04-01 or 01/04/2016 (day first, "
         "four-digit year)."),
        ({"role": "Doctor"}, "survey_responses.csv, cell F2 (role): 'Doctor' is not one of the "
         "allowed answers; write one of: resident, volunteer, patient, carer, staff."),
        ({"imd_quintile": "7"}, "survey_responses.csv, cell I2 (imd_quintile): '7' is out of "
         "range; write a number from 1 to 5."),
        ({"wave": "first"}, "survey_responses.csv, cell D2 (wave): 'first' is not a whole number; "
         "write digits only, like 3."),
        ({"site_id": ""}, "survey_responses.csv, cell C2 (site_id) is blank; fill it in (every "
         "row needs a site_id)."),
        ({"wave": "0", "response_id": "ST-0001-W0"}, "survey_responses.csv, cell AD2 "
         "(para_decided_for_us_before): '4' is a 'looking back' (_before) answer on the baseline "
         "wave (wave 0); leave the _before columns blank at baseline."),
    ],
)  # fmt: skip
def test_cell_problem_messages(tmp_path, override, message) -> None:
    """A CSV has no sheets: the file's name stands where the sheet would."""
    problems = _problems(tmp_path, _row(**override))
    assert message in problems, problems


def test_title_rows_above_the_header_do_not_shift_row_numbers(tmp_path) -> None:
    problems = _problems(tmp_path, _row(), _row(response_id="ST-0002-W1", respondent_id="ST0002",
                                                 ucla_2="9"), title="Stockport survey, October")  # fmt: skip
    assert problems == [
        "survey_responses.csv, cell R5 (ucla_2): '9' is not an answer on this scale; use 1-3 or "
        "the words (1 = Hardly ever, 2 = Some of the time, 3 = Often)."
    ]


def test_a_workbook_names_the_sheet_the_cell_and_the_heading_as_written(tmp_path) -> None:
    """Headings as the coordinator typed them ('Event date'), cells as Excel shows them,
    even when the table starts lower and further right than A1."""
    path = tmp_path / "log.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("events")
    sheet.write_row(1, 1, ["Site ID", "Event date", "Event type", "Phase", "Description"])
    sheet.write_row(2, 1, ["gm_cancer", "2016-07-01", "launch", "growth", "x"])
    book.close()
    (table,) = read_tables(path).tables
    (problem,) = validate_table(clean_table(table)).problems
    assert (problem.cell, problem.heading) == ("E3", "Phase")
    assert problem.message() == (
        "Sheet events, cell E3 (Phase): 'growth' is not one of the allowed answers; write one "
        "of: enduring_crisis, emergence, impact_formalisation, adaptation, decline."
    )


def test_a_respondent_answering_the_same_wave_twice_names_both_rows(tmp_path) -> None:
    problems = _problems(tmp_path, _row(), _row(response_id="ST-0001-W1b"))
    assert any("cell C2" in p and "also row 3" in p for p in problems), problems
    assert any("cell C3" in p and "also row 2" in p for p in problems), problems


def test_missing_required_column_names_the_column(tmp_path) -> None:
    path = tmp_path / "survey_responses.csv"
    header = SURVEY_HEADER.replace(",role", "")
    row = _row().split(",")
    del row[SURVEY_HEADER.split(",").index("role")]
    path.write_text(header + "\n" + ",".join(row) + "\n", encoding="utf-8")
    (sheet,) = read_tables(path).tables
    validated = validate_table(clean_table(sheet))
    assert validated.accepted.empty
    assert [p.message() for p in validated.problems if p.reason == "missing_column"] == [
        "survey_responses.csv, column role is missing; add a column with exactly this heading "
        "(a blank template shows every column)."
    ]


def test_file_that_is_not_a_spreadsheet_type_is_named(tmp_path) -> None:
    path = tmp_path / "notes.docx"
    path.write_bytes(b"PK\x03\x04 not really")
    (problem,) = read_tables(path).problems
    assert problem.reason == "not_a_spreadsheet"
    assert "save the file as .xlsx, .ods or .csv" in problem.message()


# --- grouped for people ----------------------------------------------------------------------


def _wrong_site(row: int, value: str = "gm_cancer") -> Problem:
    return Problem("events.xlsx", "events", row, "site_id", value,
                   "is another site; this account uploads for Wellbeing Erewash, so write "
                   "wellbeing_erewash here, or upload this row from that site's account",
                   "wrong_site", cell=f"A{row}", heading="site_id")  # fmt: skip


def test_rows_are_said_as_ranges() -> None:
    assert rows_text([5]) == "row 5"
    assert rows_text([*range(2, 62), 64]) == "rows 2-61 and 64"
    assert rows_text([2, 3, 7, 9, 10]) == "rows 2-3, 7 and 9-10"
    many = rows_text(list(range(2, 100, 2)))
    assert many.startswith("rows 2, 4, 6")
    assert many.endswith("and 37 more rows")


def test_the_same_problem_on_many_rows_is_one_line_with_a_count() -> None:
    problems = [_wrong_site(r) for r in [*range(2, 62), 64]]
    (group,) = group_problems(problems)
    assert group.count == 61
    assert group.message() == (
        "Sheet events, rows 2-61 and 64, column A (site_id): 'gm_cancer' is another site; this "
        "account uploads for Wellbeing Erewash, so write wellbeing_erewash here, or upload this "
        "row from that site's account (61 cells)."
    )


def test_different_values_of_one_problem_are_named_a_few_at_a_time() -> None:
    values = ["gm_cancer", "halton", "airedale", "x", "y"]
    (group,) = group_problems([_wrong_site(r, v) for r, v in enumerate(values, start=2)])
    assert group.message().startswith(
        "Sheet events, rows 2-6, column A (site_id): 'gm_cancer', 'halton', 'airedale' and 2 "
        "other values; each is another site;"
    )


def test_a_result_line_is_a_sentence_with_the_value_in_it() -> None:
    """The page's 'what to do' is a whole sentence, never a fragment such as 'Is empty'."""
    (one,) = group_problems([_wrong_site(7)])
    assert one.place_text() == "cell A7 (site_id)"
    assert one.finding().startswith("'gm_cancer' is another site; this account uploads for")
    blank = Problem("events.csv", None, 3, "phase", None, "is blank; fill it in (every row "
                    "needs a phase)", "missing_value", cell="D3", heading="phase")  # fmt: skip
    (group,) = group_problems([blank])
    assert group.finding() == "This cell is blank; fill it in (every row needs a phase)."
    assert group.container() == "events.csv"


def test_a_file_of_sites_the_programme_does_not_have_is_one_sentence() -> None:
    unknown = [Problem("other.csv", None, r, "site_id", "leeds_north", "is not a site reval "
                       "knows", "unknown_site", cell=f"A{r}") for r in (2, 3)]  # fmt: skip
    assert belongs_elsewhere(unknown, 2, None, {"gm_cancer": "GM Cancer"}) == (
        "This file is for leeds_north, which is not a site of this programme: none of its 2 rows "
        "could be loaded. Check you chose the right file, or ask the evaluation team to add the "
        "site first."
    )
    assert belongs_elsewhere(unknown, 3, None, {"gm_cancer": "GM Cancer"}) is None  # one is ours
    assert belongs_elsewhere(unknown, 2, None, {}) is None  # no sites yet: nothing to compare
