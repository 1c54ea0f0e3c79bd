"""Validation: cleaned frames against the contract, every problem reported.

pandera runs lazily, so a sheet's problems all come back at once; each failure
case is translated into a :class:`Problem` naming the row the user sees. Rows
with any problem are rejected whole (with their reasons); the rest are
accepted. A missing required column rejects the sheet.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.errors as pe
import pandera.pandas as pa

from reval.contract import (
    PARADIGM_BEFORE,
    Contract,
    answer_scale_named,
    column_checks,
    column_in,
    default_contract,
)
from reval.ingest.cleaning import CleanedTable
from reval.ingest.problems import Problem, ReasonCode, located
from reval.ingest.screening import screen


@dataclass(frozen=True)
class ValidatedTable:
    cleaned: CleanedTable
    accepted: pd.DataFrame
    """Typed rows that passed; index = spreadsheet row numbers."""
    rejected_rows: list[int]
    problems: list[Problem]

    @property
    def table(self) -> str:
        return self.cleaned.sheet.table


def validate_table(
    cleaned: CleanedTable, *, screened: bool = True, contract: Contract | None = None
) -> ValidatedTable:
    """Every problem pandera finds in the sheet; rows with none are accepted (coerced).

    With ``screened`` (the default) pandera validates only the rows screening marks
    as possibly failing (see :mod:`reval.ingest.screening`): the same problems, found
    in a fraction of the time on large sheets. ``screened=False`` validates the whole
    frame, the reference the fast path is tested against.
    """
    sheet = cleaned.sheet
    schema = (contract or default_contract()).schema(sheet.table)
    problems = list(cleaned.problems)
    frame = cleaned.frame
    screen_result = screen(schema, frame) if screened else None
    checked = frame if screen_result is None else frame.loc[screen_result.suspect]
    try:
        schema.validate(checked, lazy=True)
    except pe.SchemaErrors as errors:
        problems.extend(_translate(errors.failure_cases, cleaned, schema))
    if any(p.row is None for p in problems):  # a sheet-level problem (missing column): reject all
        return ValidatedTable(cleaned, frame.iloc[0:0], [int(r) for r in frame.index],
                              located(_dedupe(problems), sheet.headings))  # fmt: skip
    bad_rows = sorted({p.row for p in problems if p.row is not None})
    if screen_result is not None and len(bad_rows) < len(frame):
        # already coerced, and coercion is cell by cell: dropping rows commutes with it
        coerced = screen_result.coerced
        accepted = coerced.drop(index=bad_rows) if bad_rows else coerced
    else:
        good = frame.drop(index=bad_rows)
        accepted = schema.validate(good, lazy=True) if len(good) else good
    return ValidatedTable(cleaned, accepted, bad_rows, located(_dedupe(problems), sheet.headings))


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """One problem per (row, column, reason): cleaning already reported unreadable cells."""
    seen: set[tuple[Any, ...]] = set()
    cell_problems = {
        (p.row, p.column)
        for p in problems
        if p.reason in {"wrong_type", "bad_format", "not_on_scale", "personal_identifier"}
    }
    out = []
    for p in problems:
        key = (p.row, p.column, p.reason)
        if key in seen:
            continue
        if p.reason == "missing_value" and (p.row, p.column) in cell_problems:
            continue  # the unreadable cell was blanked; it is reported once, as unreadable
        seen.add(key)
        out.append(p)
    return sorted(out, key=lambda p: (p.row or 0, p.column or ""))


def _translate(
    failures: pd.DataFrame, cleaned: CleanedTable, schema: pa.DataFrameSchema
) -> list[Problem]:
    sheet = cleaned.sheet
    problems: list[Problem] = []
    key_rows: dict[str, list[int]] = defaultdict(list)
    frame_level: dict[tuple[str, int], list[str]] = defaultdict(list)
    for case in failures.itertuples(index=False):
        check = str(case.check)
        column = None if pd.isna(case.column) else str(case.column)
        row = None if pd.isna(case.index) else int(case.index)
        value = None if _is_missing(case.failure_case) else str(case.failure_case)
        if check == "column_in_dataframe":
            problems.append(Problem(sheet.file, sheet.sheet, None, value, None,
                                    "is missing; add a column with exactly this heading "
                                    "(a blank template shows every column)",
                                    "missing_column"))  # fmt: skip
            continue
        if check in {"multiple_fields_uniqueness"} and row is not None:
            key_rows["|".join(schema.unique or [])].append(row)
            continue
        if check == "field_uniqueness" and row is not None and column is not None:
            key_rows[column].append(row)  # said with the other rows, like a repeated key
            continue
        if case.schema_context == "DataFrameSchema" and row is not None and column is not None:
            frame_level[(check, row)].append(column)
            continue
        if row is None:
            continue
        shown = _as_written(cleaned, row, column, value)
        problems.append(_column_problem(sheet.file, sheet.sheet, row, column, shown, check, schema))
    for key, rows in key_rows.items():
        # pandera judges uniqueness on the key columns present (a missing one is its own problem)
        columns = [c for c in key.split("|") if c in cleaned.frame.columns]
        cells = cleaned.frame.loc[sorted(set(rows)), columns].astype(object)
        # a blank key cell (also reported as missing) must not break the label
        groups = cells.where(cells.notna(), "(blank)").map(_key_text).agg(" / ".join, axis=1)
        blank = cells.isna().any(axis=1)
        flagged = {p.row for p in [*problems, *cleaned.problems]}
        for row, label in groups.items():
            if blank[row] and row in flagged:
                continue  # the blank (or unreadable) key cell is the problem, said once
            others = [int(r) for r in groups.index[groups == label] if r != row]
            problems.append(Problem(sheet.file, sheet.sheet, int(row), ", ".join(columns), label,
                                    f"appears more than once as {' + '.join(columns)} "
                                    f"(also row {', '.join(map(str, others))}); keep one of these "
                                    f"rows, or give each its own {' + '.join(columns)}",
                                    "duplicate_key"))  # fmt: skip
    for (check, row), columns in frame_level.items():
        problems.append(_rule_problem(cleaned, check, row, columns))
    return problems


def _as_written(
    cleaned: CleanedTable, row: int, column: str | None, value: str | None
) -> str | None:
    """The cell as the coordinator wrote it ('0', not the '0.0' it was read as)."""
    if value is None or column is None or column not in cleaned.source.columns:
        return value
    try:
        raw = cleaned.source.at[row, column]
    except KeyError:
        return value
    if _is_missing(raw) or str(raw).strip() == "":
        return value
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip() if isinstance(raw, str) else value


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _column_problem(
    file: str,
    sheet: str | None,
    row: int,
    column: str | None,
    value: str | None,
    check: str,
    schema: pa.DataFrameSchema,
) -> Problem:
    spec = column_in(schema, column) if column else None
    checks = column_checks(spec) if spec is not None else {}
    name = check.split("(")[0]
    reason: ReasonCode
    if name in {"not_nullable"}:
        expected, reason = f"is blank; fill it in (every row needs a {column})", "missing_value"
    elif name in {"field_uniqueness"}:
        expected, reason = (
            "appears more than once in this column; each row needs its own",
            "duplicate_key",
        )
    elif name == "isin":
        allowed = ", ".join(map(str, checks["isin"]["allowed_values"]))
        expected, reason = (
            f"is not one of the allowed answers; write one of: {allowed}",
            "not_allowed",
        )
    elif name == "answer_scale":
        scale = answer_scale_named(checks["answer_scale"]["scale"])
        expected, reason = f"is not an answer on this scale; use {scale.describe()}", "not_on_scale"
    elif name == "age_band":
        expected, reason = (
            "is not an age band; write it as N-M with the youngest age first (for example "
            "25-44) or N+ (for example 75+)",
            "bad_format",
        )
    elif name == "semicolon_list":
        allowed = "; ".join(checks["semicolon_list"]["allowed"])
        expected, reason = (
            f"has an entry that is not allowed; separate entries with ';' and use only: {allowed}",
            "not_allowed",
        )
    elif name == "in_range":
        stats = checks["in_range"]
        low, high = _plain(stats["min_value"]), _plain(stats["max_value"])
        open_low, open_high = stats.get("include_min") is False, stats.get("include_max") is False
        if not open_low and not open_high:
            words = f"from {low} to {high}"
        else:
            above = f"more than {low}" if open_low else f"at least {low}"
            words = f"{above} and {'less than' if open_high else 'at most'} {high}"
        expected = f"is out of range; write a number {words}"
        reason = "out_of_range"
    elif name == "str_matches":
        what = spec.title if spec is not None and spec.title else column
        hint = spec.description if spec is not None and spec.description else ""
        expected, reason = f"is not a valid {what}. {hint}".strip(), "bad_format"
    elif name == "str_length":
        stats = checks["str_length"]
        lo, hi = stats.get("min_value"), stats.get("max_value")
        expected = (f"is too short or too long; write between {lo} and {hi} characters" if lo is not None
                    else f"is too long; keep it under {hi} characters")  # fmt: skip
        reason = "too_long"
    elif name in {"coerce_dtype", "dtype"}:
        expected, reason = f"is not a {_type_words(str(spec.dtype) if spec else '')}", "wrong_type"
    else:
        expected, reason = f"breaks the rule {check}", "rule_broken"
    if column is not None and spec is None and name not in {"not_nullable"}:
        reason = "rule_broken"
    return Problem(file, sheet, row, column, value, expected, reason)


def _rule_problem(cleaned: CleanedTable, check: str, row: int, columns: list[str]) -> Problem:
    sheet = cleaned.sheet
    frame = cleaned.frame
    name = check.split("(")[0]
    if name == "before_only_after_baseline":
        cols = [c for c in frame.columns if PARADIGM_BEFORE.match(c) and pd.notna(frame.at[row, c])]
        return Problem(sheet.file, sheet.sheet, row, cols[0] if cols else None,
                       None if not cols else str(frame.at[row, cols[0]]),
                       "is a 'looking back' (_before) answer on the baseline wave (wave 0); "
                       "leave the _before columns blank at baseline", "rule_broken")  # fmt: skip
    if name == "gas_thresholds_ordered":
        return Problem(sheet.file, sheet.sheet, row, "gas_m2, gas_m1, target, gas_p1, gas_p2", None,
                       "do not rise in order; the Goal Attainment levels must rise from gas_m2 "
                       "through gas_m1, target and gas_p1 to gas_p2, all counted in the intended "
                       "direction", "rule_broken")  # fmt: skip
    if name == "proxy_value_only_for_calculate":
        return Problem(sheet.file, sheet.sheet, row, "proxy_value_gbp",
                       str(frame.at[row, "proxy_value_gbp"]),
                       "is a proxy value in pounds on an item that is not 'calculate'; clear it, "
                       "or change value_kind to calculate", "rule_broken")  # fmt: skip
    return Problem(
        sheet.file,
        sheet.sheet,
        row,
        ", ".join(columns[:3]),
        None,
        f"breaks the rule {check}",
        "rule_broken",
    )


def _key_text(value: Any) -> str:
    """A key cell as its writer would recognise it (a date without a time)."""
    return value.strftime("%Y-%m-%d") if isinstance(value, pd.Timestamp) else str(value)


def _plain(value: Any) -> str:
    text = str(value)
    return text[:10] if text[:4].isdigit() and "-" in text else text.removesuffix(".0")


def _type_words(dtype: str) -> str:
    if dtype.startswith("datetime"):
        return "date; write it as 2016-04-01 or 01/04/2016 (day first)"
    if dtype in {"Int64", "int64"}:
        return "whole number"
    if dtype.startswith("float"):
        return "number"
    return "text value"
