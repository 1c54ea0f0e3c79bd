"""Every rejection names the file, sheet, row as the user sees it, column, value and
what was expected, in words a coordinator can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from reval.ingest.cleaning import clean_table
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
        ({"swemwbs_3": "Oftn"}, "Row 2, column swemwbs_3: 'Oftn' - is not an answer on this scale; "
         "use 1-5 or the words (1 = None of the time, 2 = Rarely, 3 = Some of the time, 4 = Often, "
         "5 = All of the time)"),
        ({"response_date": "03/10/17"}, "Row 2, column response_date: '03/10/17' - is not a date "
         "reval can read; write it as 2016-04-01 or 01/04/2016 (day first, four-digit year)"),
        ({"role": "Doctor"}, "Row 2, column role: 'Doctor' - is not one of the allowed answers: "
         "resident, volunteer, patient, carer, staff"),
        ({"imd_quintile": "7"}, "Row 2, column imd_quintile: '7' - is out of range; it must be "
         "between 1 and 5"),
        ({"wave": "first"}, "Row 2, column wave: 'first' - is not a whole number; write digits only, like 3"),
        ({"site_id": ""}, "Row 2, column site_id: is blank; this column must be filled in"),
        ({"wave": "0", "response_id": "ST-0001-W0"}, "Row 2, column para_decided_for_us_before: '4' - "
         "a 'looking back' (_before) answer is filled in on the baseline wave (wave 0)"),
    ],
)  # fmt: skip
def test_cell_problem_messages(tmp_path, override, message) -> None:
    problems = _problems(tmp_path, _row(**override))
    assert any(p.startswith(message) for p in problems), problems


def test_title_rows_above_the_header_do_not_shift_row_numbers(tmp_path) -> None:
    problems = _problems(tmp_path, _row(), _row(response_id="ST-0002-W1", respondent_id="ST0002",
                                                 ucla_2="9"), title="Stockport survey, October")  # fmt: skip
    assert problems == [
        "Row 5, column ucla_2: '9' - is not an answer on this scale; use 1-3 or the words "
        "(1 = Hardly ever, 2 = Some of the time, 3 = Often)"
    ]


def test_a_respondent_answering_the_same_wave_twice_names_both_rows(tmp_path) -> None:
    problems = _problems(tmp_path, _row(), _row(response_id="ST-0001-W1b"))
    assert any("Row 2" in p and "also row 3" in p for p in problems), problems
    assert any("Row 3" in p and "also row 2" in p for p in problems), problems


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
        "Column role: this required column is missing; add it with exactly this heading "
        "(download a blank template to see every column)"
    ]


def test_file_that_is_not_a_spreadsheet_type_is_named(tmp_path) -> None:
    path = tmp_path / "notes.docx"
    path.write_bytes(b"PK\x03\x04 not really")
    (problem,) = read_tables(path).problems
    assert problem.reason == "not_a_spreadsheet"
    assert "save the file as .xlsx, .ods or .csv" in problem.message()
