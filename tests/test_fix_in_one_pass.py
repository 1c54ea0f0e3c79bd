"""A coordinator fixes a file in one pass: every problem is in the first answer.

Each messy case (the kinds tests/test_ingest_messy_files.py covers, several mistakes
per row) is uploaded; then exactly the listed problems are fixed, the way the
messages say, and the file is uploaded again. The second answer must hold no
problem at all: nothing new appears once the listed ones are fixed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from reval.config import Settings
from reval.ingest.problems import NOTE_REASONS, Problem
from reval.ingest.readers import read_tables
from reval.pipeline import ingest_file, write_fixes
from reval.warehouse import Warehouse

SITES_CSV = (
    "site_id,site_name,care_model,region,start_date\n"
    "stockport_together,Stockport Together,Multispecialty community provider,North West,2016-05-01\n"
    "gm_cancer,Greater Manchester Cancer Vanguard,Cancer prevention,North West,01/07/2016\n"
)
EVENT = {"site_id": "gm_cancer", "event_date": "2016-07-01", "event_type": "launch",
         "phase": "emergence", "description": "Champions recruited"}  # fmt: skip
OUTCOME = {"site_id": "stockport_together", "outcome_id": "io1", "statement": "Less lonely",
           "measure": "ucla3", "direction": "decrease", "target": "1", "weight": "1",
           "proposed_by": "joint", "aim": "norms"}  # fmt: skip
SITE_ROW = {"site_id": "halton_wellbeing", "site_name": "Halton Wellbeing",
            "care_model": "Community wellbeing", "region": "North West",
            "start_date": "2016-09-01"}  # fmt: skip


def survey(n: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "response_id": f"ST-{n:04d}-W1", "respondent_id": f"ST{n:04d}",
        "site_id": "stockport_together", "wave": "1", "response_date": "2017-10-03",
        "role": "resident", "age_band": "65-74", "sex": "female", "imd_quintile": "2",
        **{f"swemwbs_{i}": "3" for i in range(1, 8)}, **{f"ucla_{i}": "2" for i in range(1, 4)},
        **{f"emp_{b}": "5" for b in ("empathises", "mobilises", "powers", "orbits", "waves",
                                     "experiments", "rages", "selfgoverns")},
        "para_decided_for_us_now": "2", "para_decided_for_us_before": "4",
    }  # fmt: skip
    row.update(overrides)
    return row


GOOD: dict[str, dict[str, object]] = {
    "events": EVENT,
    "intended_outcomes": OUTCOME,
    "survey_responses": survey(9000),
    "sites": SITE_ROW,
}


@dataclass
class Case:
    name: str
    sheets: dict[str, list[dict[str, object]]]
    site: str | None = None
    before: list[dict[str, list[dict[str, object]]]] = field(default_factory=list)
    """Files uploaded first (for checks across uploads)."""
    title_rows: int = 0


# fmt: off
CASES = [
    Case("events.csv", {"events": [
        EVENT, {**EVENT, "phase": " Emergence ", "event_date": "03/04/16", "description": "b"},
        {**EVENT, "event_date": "2016-13-01", "site_id": "gm_cancr", "phase": "growth",
         "description": "c"},
        {**EVENT, "event_date": "3rd April 2016", "event_type": "", "description": "d"},
    ]}, title_rows=2),
    Case("mixed.xlsx", {
        "survey_responses": [
            survey(1, site_id="stockprot_together", swemwbs_3="Oftn", role="Doctor"),
            survey(2, para_made_up_now="3", ucla_2="9", response_date="31/02/2017"),
            survey(3, wave="0", response_id="ST-0003-W0", respondent_id="9434765919"),
            survey(4), survey(4, imd_quintile="7"),
        ],
        "intended_outcomes": [
            {**OUTCOME, "measure": "happiness", "direction": "up", "aim": "wellbeing"},
            {**OUTCOME, "outcome_id": "io2", "site_id": "nowhere", "target": "lots"},
        ],
    }),
    Case("events.csv", {"events": [
        EVENT, {**EVENT, "site_id": "stockport_together", "phase": "growing", "event_date": "2016-08-01"},
        {**EVENT, "site_id": "somewhere_else", "event_date": "31/02/2017", "description": "c"},
    ]}, site="gm_cancer"),
    Case("events.csv", {"events": [
        {k: v for k, v in EVENT.items() if k != "phase"},
        {**{k: v for k, v in EVENT.items() if k != "phase"}, "event_date": "soon", "site_id": "x",
         "description": "b"},
    ]}),
    Case("gm.xlsx", {
        "sites": [{**SITE_ROW, "start_date": "sometime"}],
        "events": [{**EVENT, "site_id": "halton_wellbeing", "phase": "peak"}],
    }),
    Case("second.xlsx", {"survey_responses": [
        survey(1, response_id="ST-0001-W1-again", sex="F"), survey(5)]},
         before=[{"survey_responses": [survey(1)]}]),
    Case("with catalogue.xlsx", {
        "paradigm_statements": [{"item": "we_decide", "statement": "We decide together",
                                 "paradigm": "new", "theme": "power"}],
        "events": [{**EVENT, "phase": "peak"}],
    }, site="gm_cancer"),
    Case("wrong file.csv", {"events": [{**EVENT, "site_id": "stockport_together",
                                         "description": f"event {i}"} for i in range(30)]},
         site="gm_cancer"),
]
# fmt: on


def write_case(path: Path, sheets: dict[str, pd.DataFrame], title_rows: int = 0) -> Path:
    """The sheets as a coordinator's file: a CSV (one table) or a workbook of text cells."""
    if path.suffix == ".csv":
        (frame,) = sheets.values()
        title = "Our log\n" * title_rows
        path.write_text(title + frame.to_csv(index=False), encoding="utf-8")
        return path
    with pd.ExcelWriter(path, engine="xlsxwriter") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return path


def frames(sheets: dict[str, list[dict[str, object]]]) -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame(rows).astype(object) for name, rows in sheets.items()}


Fix = Callable[[pd.DataFrame, Problem], None]


def fix_as_told(table: str, site: str | None) -> Fix:
    """What a careful coordinator does with each message (nothing more)."""

    def fix(frame: pd.DataFrame, p: Problem) -> None:
        if p.reason in NOTE_REASONS:
            return  # a note keeps its rows: nothing to fix
        good = {**GOOD.get(table, {}), **({"site_id": site} if site else {})}
        if p.reason == "missing_column":
            frame[p.column] = good[p.column]
        elif p.reason == "duplicate_key" and "reuse response_id" in p.expected:
            frame.loc[p.row, "response_id"] = re.findall(r"reuse response_id (\S+)", p.expected)[0]
        elif p.reason == "duplicate_key":
            others = [int(r) for r in re.findall(r"\d+", p.expected.split("also row")[1])]
            if any(r < p.row for r in others):  # "keep one row": the first stays
                frame.loc[p.row] = None  # a blank row is skipped
        elif p.reason == "rule_broken" and "_before" in p.expected:
            for column in [c for c in frame.columns if c.endswith("_before")]:
                frame.loc[p.row, column] = None
        elif p.reason == "unknown_item":
            frame.loc[p.row, p.column] = None
        elif p.reason == "wrong_site" and p.column is None:  # "remove this sheet"
            frame.loc[p.row] = None
        elif p.reason in {"wrong_site", "unknown_site"}:
            frame.loc[p.row, "site_id"] = site or "stockport_together"
        elif p.column and p.column.endswith("_date"):
            frame.loc[p.row, p.column] = f"2016-07-{p.row:02d}"  # each row its own day
        else:
            frame.loc[p.row, p.column] = good[str(p.column)]

    return fix


def fixed_file(path: Path, problems: list[Problem], site: str | None) -> Path:
    """The same file with exactly the listed problems fixed, saved as a new workbook."""
    read = read_tables(path)
    out: dict[str, pd.DataFrame] = {}
    for sheet in read.tables:
        frame = sheet.frame.copy().astype(object)
        fix = fix_as_told(sheet.table, site)
        for p in problems:
            mine = p.sheet == sheet.sheet and p.file == sheet.file
            if mine and (p.row in frame.index or p.reason == "missing_column"):
                fix(frame, p)
        out[sheet.table] = frame
    return write_case(path.with_name(f"fixed {path.stem}.xlsx"), out)


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c.name}" for i, c in enumerate(CASES)])
def test_fixing_the_listed_problems_leaves_none(
    two_sites: Settings, tmp_path: Path, case: Case
) -> None:
    for i, earlier in enumerate(case.before):
        first = write_case(tmp_path / f"earlier{i}.xlsx", frames(earlier))
        assert ingest_file(two_sites, first, site_id=case.site).status == "loaded"
    path = write_case(tmp_path / case.name, frames(case.sheets), case.title_rows)
    first = ingest_file(two_sites, path, site_id=case.site)
    assert first.problems, "every case has something to fix"
    again = ingest_file(two_sites, fixed_file(path, first.problems, case.site), site_id=case.site)
    # notes (rows kept that wait for a table not yet uploaded) are not problems to fix
    assert [p.message() for p in again.problems if p.reason not in NOTE_REASONS] == []
    assert again.status == "loaded"


def test_a_row_with_an_unknown_site_and_a_bad_cell_gets_both_at_once(two_sites, tmp_path) -> None:
    path = write_case(tmp_path / "s.xlsx", frames({"survey_responses": [
        survey(1, site_id="stockprot_together", swemwbs_3="Oftn")]}))  # fmt: skip
    report = ingest_file(two_sites, path)
    assert sorted((p.column, p.reason) for p in report.problems) == [
        ("site_id", "unknown_site"),
        ("swemwbs_3", "not_on_scale"),
    ]


def test_another_sites_row_is_flagged_once(two_sites, tmp_path) -> None:
    path = write_case(tmp_path / "events.xlsx", frames({"events": [
        {**EVENT, "site_id": "not_a_site"}]}))  # fmt: skip
    report = ingest_file(two_sites, path, site_id="gm_cancer")
    assert [(p.row, p.column, p.reason) for p in report.problems] == [(2, "site_id", "wrong_site")]


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c.name}" for i, c in enumerate(CASES)])
def test_fixing_the_fix_up_workbook_as_its_notes_say_leaves_none(
    two_sites: Settings, tmp_path: Path, case: Case
) -> None:
    """The same, the way the portal offers it: download the rows to fix, change the cells
    the notes point at (in that workbook, at that workbook's rows), upload that file."""
    for i, earlier in enumerate(case.before):
        first = write_case(tmp_path / f"earlier{i}.xlsx", frames(earlier))
        assert ingest_file(two_sites, first, site_id=case.site).status == "loaded"
    path = write_case(tmp_path / case.name, frames(case.sheets), case.title_rows)
    first = ingest_file(two_sites, path, site_id=case.site)
    book_path = write_fixes(two_sites, first.ingest_id, tmp_path / "to fix.xlsx")
    book = openpyxl.load_workbook(book_path)
    if case.site:  # a site cannot change the catalogue: no rows of it to fix
        assert "paradigm_statements" not in book.sheetnames
    with Warehouse(two_sites.warehouse_path, read_only=True) as warehouse:
        rejected = warehouse.rejected(first.ingest_id)
    read = {t.sheet: t for t in read_tables(book_path).tables}
    for sheet in read.values():
        ws = book[sheet.sheet]
        headers = [c.value for c in ws[1]]
        frame = sheet.frame.copy().astype(object)
        kept = rejected[rejected["sheet"].fillna(rejected["table_name"]) == sheet.sheet]
        moved = {int(old): new for new, old in enumerate(kept["source_row"], start=2)}
        for p in first.problems:
            if not _same_sheet(p, sheet):
                continue
            if p.row is None:
                fix_as_told(sheet.table, case.site)(frame, p)
            else:
                here = _moved(p, moved)
                noted = ws.cell(row=here.row, column=headers.index(_first(p.column)) + 1)
                assert noted.comment is not None, (here.row, p.column)
                assert f"cell {noted.coordinate} " in noted.comment.text
                fix_as_told(sheet.table, case.site)(frame, here)
        for row in frame.index:
            for name, value in frame.loc[row].items():
                # (ws.cell(..., value=None) would leave the old value in place)
                ws.cell(row=int(row), column=headers.index(name) + 1).value = _cell(value)
    book.save(tmp_path / "fixed.xlsx")
    again = ingest_file(two_sites, tmp_path / "fixed.xlsx", site_id=case.site)
    assert [p.message() for p in again.problems if p.reason not in NOTE_REASONS] == []
    assert again.status == "loaded"


def _same_sheet(p: Problem, sheet) -> bool:  # type: ignore[no-untyped-def]
    return (p.sheet or p.file.rsplit(".", 1)[0].split()[-1]) == sheet.sheet or (
        p.sheet is None and sheet.sheet == sheet.table
    )


def _first(column: str | None) -> str:
    return str(column).split(",")[0].strip()


def _moved(p: Problem, moved: dict[int, int]) -> Problem:
    expected = re.sub(r"also row ([\d, ]+)",
                      lambda m: "also row " + ", ".join(str(moved.get(int(r), 0))
                                                        for r in re.findall(r"\d+", m[1])),
                      p.expected)  # fmt: skip
    return Problem(p.file, p.sheet, moved[p.row], p.column, p.value, expected, p.reason)


def _cell(value: object) -> object:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def test_reval_fixes_writes_the_fix_up_workbook(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from reval.cli import app

    monkeypatch.setenv("REVAL_HOME", str(tmp_path / "ws"))
    bad = write_case(tmp_path / "events.csv", frames({"events": [{**EVENT, "phase": "peak"}]}))
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest", str(bad), "--json"])
    ingest_id = json.loads(ingested.output)[0]["ingest_id"]
    result = runner.invoke(app, ["fixes", ingest_id, "-o", str(tmp_path / "fix.xlsx")])
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(tmp_path / "fix.xlsx")["events"]
    assert [c.value for c in sheet[1]][:2] == ["problems", "site_id"]
    assert sheet["E2"].comment.text.startswith("Sheet events, cell E2 (phase): 'peak'")
