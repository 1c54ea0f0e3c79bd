"""The fast ingest path reports exactly what the slow one did.

Validation screens a sheet with the schema's own check functions and lets pandera
judge only the rows screening marks (reval.ingest.screening). These tests hold it to
pandera over the whole sheet: the same problems (file, sheet, row, column, value,
expected, reason, in the same order), the same rejected rows and the same accepted
frame, on every messy-file case and on randomly damaged copies of the sample sheets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import reval.pipeline
import reval.warehouse
from reval.config import SAMPLE_DATA_DIR
from reval.contract import semicolon_list_bad
from reval.ingest import cleaning
from reval.ingest.cleaning import CleanedTable, _int64, _integral, cell_text, clean_table
from reval.ingest.readers import SheetTable, has_blank_line, read_tables
from reval.ingest.validation import ValidatedTable, validate_table
from tests import test_ingest_messy_files as messy


def same_as_pandera(cleaned: CleanedTable, contract=None) -> ValidatedTable:
    fast = validate_table(cleaned, contract=contract)
    full = validate_table(cleaned, screened=False, contract=contract)
    assert fast.problems == full.problems
    assert fast.rejected_rows == full.rejected_rows
    pd.testing.assert_frame_equal(fast.accepted, full.accepted)
    return fast


def assert_same_as_pandera(sheet: SheetTable) -> ValidatedTable:
    return same_as_pandera(clean_table(sheet))


# --- every messy-file case again: each sheet's validation checked against pandera, and -----
# --- accepted rows loaded two at a time (the exact warehouse changes are asserted) ---------

for _name in dir(messy):
    if _name.startswith("test_"):
        globals()[f"{_name}_same_as_pandera"] = getattr(messy, _name)


@pytest.fixture(autouse=True)
def _every_validation_checked(request, monkeypatch) -> Iterator[None]:
    if "_same_as_pandera" not in request.node.name:
        yield
        return

    calls: list[str] = []

    def checked(cleaned: CleanedTable, contract=None) -> ValidatedTable:
        calls.append(cleaned.sheet.table)
        return same_as_pandera(cleaned, contract)

    monkeypatch.setattr(reval.pipeline, "validate_table", checked)
    monkeypatch.setattr(reval.warehouse, "LOAD_SLICE_ROWS", 2)  # loads go in several slices
    yield
    assert calls, "the messy-file case validated nothing"


# --- randomly damaged sample sheets ---------------------------------------------------------


@pytest.fixture(scope="module")
def sample_sheets() -> dict[str, SheetTable]:
    sheets: dict[str, SheetTable] = {}
    for path in [SAMPLE_DATA_DIR / "workbooks" / "stockport_together.xlsx",
                 SAMPLE_DATA_DIR / "paradigm_statements.csv"]:  # fmt: skip
        for sheet in read_tables(path).tables:
            sheets.setdefault(sheet.table, sheet)
    return sheets


NASTY = [
    "", "  ", "abc", "-1", "0", "1", "3", "5", "11", "999", "2.5", "1e3", "1,5", "Often",
    " often ", "4 - Often", "Often (3)", "None of the time", "Very negative", "01/02/03",
    "31/02/2016", "2016-13-01", "1999-12-31", "2101-01-01", "05/06/2016", "2016-04-01 00:00",
    "x;y", "norms;;", ";", " ; ", "knowledge; norms", "empathises;waves", "yes", "no", "maybe",
    "male", "Female", "resident", "patient ", "9434765919", "943 476 5919", "=1+1", "a" * 5001,
    "a  b", "stockport_together", "gm_cancer", "Stockport", "R-1", "R 1", "ER-0001-W0",
    "calculate", "feel", "increase", "decrease", "None", "nan", "NA", "x" * 61, "0.3", "-0.2",
]  # fmt: skip

edit = st.tuples(
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.one_of(
        st.sampled_from(NASTY).map(lambda v: ("value", v)),
        st.text(max_size=6).map(lambda v: ("value", v)),
        st.integers(0, 10_000).map(lambda r: ("copy", r)),
    ),
)
damage = st.fixed_dictionaries({
    "edits": st.lists(edit, max_size=25),
    "repeat_rows": st.lists(st.integers(0, 10_000), max_size=3),
    "drop_column": st.one_of(st.none(), st.integers(0, 10_000)),
})  # fmt: skip


def damaged(sheet: SheetTable, plan: dict, rows: int = 30) -> SheetTable:
    frame = sheet.frame.head(rows).astype(object).copy()
    n, columns = len(frame), list(frame.columns)
    for row, col, (kind, payload) in plan["edits"]:
        r, c = row % n, columns[col % len(columns)]
        frame.iat[r, frame.columns.get_loc(c)] = (
            payload if kind == "value" else frame.iat[payload % n, frame.columns.get_loc(c)]
        )
    repeats = [frame.iloc[[r % n]] for r in plan["repeat_rows"]]
    frame = pd.concat([frame, *repeats]) if repeats else frame
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="row")
    if plan["drop_column"] is not None:
        frame = frame.drop(columns=columns[plan["drop_column"] % len(columns)])
    return SheetTable("damaged.xlsx", sheet.sheet, sheet.table, frame, header_row=1)


@pytest.mark.parametrize(
    "table",
    ["survey_responses", "intended_outcomes", "value_items", "comparison_records", "events",
     "harvested_outcomes", "sites", "paradigm_statements"],
)  # fmt: skip
@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=damage)
def test_damaged_sheets_get_the_same_verdict_as_pandera(sample_sheets, table, plan) -> None:
    assert_same_as_pandera(damaged(sample_sheets[table], plan))


def test_a_large_sheet_with_a_few_problems(sample_sheets) -> None:
    sheet = sample_sheets["survey_responses"]
    frame = pd.concat([sheet.frame.astype(object)] * 40, ignore_index=True)
    frame["response_id"] = [f"R{i:06d}" for i in range(len(frame))]
    frame["respondent_id"] = [f"P{i:06d}" for i in range(len(frame))]
    frame.loc[[7, 5000], "respondent_id"] = "P000001"  # same person, wave: duplicate keys
    frame.loc[3, "response_id"] = "R000004"  # duplicate response id
    frame.loc[11, "swemwbs_3"] = "Sometimes"
    frame.loc[12, "wave"] = "21"
    frame.loc[13, "site_id"] = None
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="row")
    big = SheetTable("big.csv", None, "survey_responses", frame, header_row=1)
    fast = assert_same_as_pandera(big)
    assert len(fast.rejected_rows) >= 6
    assert len(fast.accepted) == len(frame) - len(fast.rejected_rows)


# --- the vectorised semicolon-list rule against the one-by-one original ---------------------


def _semicolon_list_reference(given: pd.Series, allowed: list[str]) -> list[bool]:
    entries = given.str.split(";").explode().str.strip()
    entries = entries[entries.notna() & (entries != "")]
    bad_rows = set(entries.index[~entries.isin(list(allowed))])
    bad_rows |= set(given.index.difference(entries.index))
    return [i in bad_rows for i in given.index]


ALLOWED = ["norms", "knowledge", "care_delivery"]


@hsettings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.lists(
            st.one_of(st.sampled_from([*ALLOWED, "", " ", ";", "Norms", "norm"]),
                      st.text(alphabet=" ;\t\n\x1c\xa0\u2003éa_no", max_size=4)),
            max_size=4,
        ).map("".join),
        max_size=12,
    )
)  # fmt: skip
def test_semicolon_list_matches_the_original(texts) -> None:
    given_ = pd.Series(texts, dtype="str", index=range(10, 10 + len(texts)))
    assert list(semicolon_list_bad(given_, ALLOWED)) == _semicolon_list_reference(given_, ALLOWED)


# --- cleaning shortcuts against the pandas expressions they replace -------------------------


def _cell_text_reference(raw: pd.Series) -> pd.Series:
    text = raw.str.strip()
    return text.where(text.notna() & (text != ""), None)


@hsettings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(
        st.lists(st.one_of(st.none(), st.text(alphabet=" \t\n\r\xa0\u2003ab1;é", max_size=5)),
                 max_size=6),
        min_size=1, max_size=4,
    ),
    sliced=st.booleans(),
)  # fmt: skip
def test_cell_text_matches_strip_then_blank_to_missing(chunks, sliced) -> None:
    arrays = [pa.array(c, pa.string()) for c in chunks]
    if sliced and len(arrays[0]) > 1:
        arrays[0] = arrays[0].slice(1)  # an offset chunk takes the copying route
    raw = pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array(arrays, pa.string())))
    pd.testing.assert_series_equal(cell_text(raw), _cell_text_reference(raw))


numbers_ = st.lists(
    st.one_of(st.none(), st.floats(-1e15, 1e15), st.integers(-(10**9), 10**9).map(float),
              st.sampled_from([float("nan"), float("inf"), -float("inf"), -0.0, 0.5, 2.0])),
    max_size=20,
)  # fmt: skip


@hsettings(max_examples=200, deadline=None)
@given(values=numbers_, flags=st.lists(st.booleans(), min_size=20, max_size=20))
def test_whole_number_conversion_matches_pandas(values, flags) -> None:
    v = pd.Series(values, dtype="float64", index=range(3, 3 + len(values)))
    assert (v.notna() & ~_integral(v)).equals(v.notna() & (v % 1 != 0))
    failed = pd.Series(flags[: len(v)], index=v.index) | (v.notna() & (v % 1 != 0))
    pd.testing.assert_series_equal(_int64(v, failed), v.where(~failed).astype("Int64"))


def test_threaded_cleaning_matches_one_thread(sample_sheets, monkeypatch) -> None:
    sheet = sample_sheets["survey_responses"]
    frame = pd.concat([sheet.frame.astype(object)] * 20, ignore_index=True)
    frame.loc[5, "respondent_id"] = messy.VALID_NHS_NUMBER
    frame.loc[6, "response_date"] = "03/04/05"
    frame.loc[7, "swemwbs_1"] = "Often-ish"
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="row")
    big = SheetTable("big.xlsx", "survey_responses", "survey_responses", frame, header_row=1)
    monkeypatch.setattr(cleaning, "PARALLEL_MIN_ROWS", 1)
    threaded = clean_table(big)
    monkeypatch.setattr(cleaning, "PARALLEL_MIN_ROWS", 10**9)
    single = clean_table(big)
    assert threaded.problems == single.problems
    assert len(threaded.problems) == 3
    pd.testing.assert_frame_equal(threaded.frame, single.frame)
    pd.testing.assert_frame_equal(threaded.source, single.source)


@hsettings(max_examples=400, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"\n", b"\r", b"a", b","]), max_size=40).map(b"".join),
    bounds=st.tuples(st.integers(0, 45), st.integers(0, 45)),
    window=st.integers(1, 8),
)
def test_blank_line_scan_matches_find(data, bounds, window) -> None:
    start, end = min(bounds), min(max(bounds), len(data))
    expected = data.find(b"\n\n", start, end) >= 0 or data.find(b"\n\r\n", start, end) >= 0
    assert has_blank_line(data, start, end, window) == expected
