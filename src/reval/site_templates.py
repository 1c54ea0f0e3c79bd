"""Blank spreadsheet templates for sites, generated from the schemas.

One workbook per contract table: an instructions sheet in plain English, the
table's sheet with one column per contract column, and dropdowns for every
closed list (categories, Likert labels), so what Excel lets a coordinator type
is what the contract accepts. Regenerate after a schema change; never edit by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pandas as pd
import pandera.pandas as pa

from reval.contract import (
    TABLES,
    Contract,
    TableName,
    column_checks,
    default_contract,
)
from reval.inert import inert
from reval.spreadsheets import (
    LISTS_SHEET,
    add_validation,
    dropdown_values,
    open_workbook,
    write_cell,
)

TEMPLATE_ROWS: Final[int] = 2000
"""Rows below the header that carry dropdowns and checks."""
DEFAULT_COMPARISON_OUTCOMES: Final[tuple[str, ...]] = (
    "ae_visits",
    "gp_contacts",
    "admissions",
    "wellbeing",
)


def template_columns(
    table: TableName,
    paradigm_items: list[str],
    comparison_outcomes: list[str],
    contract: Contract | None = None,
) -> list[tuple[str, pa.Column]]:
    """Concrete column headings for a table, pattern columns expanded (the programme's
    instrument items included)."""
    out: list[tuple[str, pa.Column]] = []
    for name, column in (contract or default_contract()).schema(table).columns.items():
        if not column.regex:
            out.append((name, column))
        elif "para_" in name:
            timing = "now" if name.endswith("_now$") else "before"
            out.extend((f"para_{item}_{timing}", column) for item in paradigm_items)
        elif name.startswith("^pre_"):
            out.extend((f"pre_{o}", column) for o in comparison_outcomes)
        elif name.startswith("^post_"):
            out.extend((f"post_{o}", column) for o in comparison_outcomes)
    return out


@dataclass(frozen=True)
class TemplateFor:
    """Whose template: one site's (site_id filled in and locked) or any site's (site_id
    picked from the programme's sites)."""

    site_id: str | None = None
    site_name: str | None = None
    sites: tuple[str, ...] = ()
    """The programme's site ids, for the site_id dropdown of a template for any site."""


def write_templates(
    out_dir: Path,
    statements: pd.DataFrame | None = None,
    comparison_outcomes: list[str] | None = None,
    contract: Contract | None = None,
    audience: TemplateFor | None = None,
) -> list[Path]:
    """A blank ``<table>.xlsx`` per contract table in ``out_dir``, for the programme whose
    ``contract`` is given (default: the sample programme), for one site or for any."""
    out_dir.mkdir(parents=True, exist_ok=True)
    items = [] if statements is None else statements["item"].astype(str).tolist()
    texts = {} if statements is None else dict(zip(
        statements["item"].astype(str), statements["statement"].astype(str), strict=True))  # fmt: skip
    outcomes = list(comparison_outcomes or DEFAULT_COMPARISON_OUTCOMES)
    contract = contract or default_contract()
    audience = audience or TemplateFor()
    return [_write_template(out_dir / f"{table}.xlsx", table, items, outcomes, contract,
                            texts, audience)
            for table in TABLES]  # fmt: skip


def statement_of(name: str, texts: dict[str, str]) -> str | None:
    """The paradigm statement a ``para_<item>_now|before`` column answers."""
    match = re.fullmatch(r"para_(?P<item>.+)_(?P<timing>now|before)", name)
    if match is None or match["item"] not in texts:
        return None
    when = "now" if match["timing"] == "now" else "looking back, before taking part"
    return f"'{texts[match['item']]}' ({when}; 1 = strongly disagree ... 5 = strongly agree)"


def _write_template(
    path: Path, table: TableName, items: list[str], outcomes: list[str], contract: Contract,
    texts: dict[str, str], audience: TemplateFor,
) -> Path:  # fmt: skip
    schema = contract.schema(table)
    columns = template_columns(table, items, outcomes, contract)
    prefilled = audience.site_id if any(name == "site_id" for name, _ in columns) else None
    if table == "sites":
        prefilled = None  # the sites table describes sites; its site_id is what is typed
    workbook = open_workbook(path, title=f"{contract.title}: template for {schema.title or table}")
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    note = workbook.add_format({"text_wrap": True, "valign": "bottom", "italic": True,
                                "font_color": "#44546A", "font_size": 9})  # fmt: skip
    unlocked = workbook.add_format({"locked": False})
    locked_site = workbook.add_format({"locked": True, "bg_color": "#EDEDED"})
    bold = workbook.add_format({"bold": True})
    heading = workbook.add_format({"bold": True, "font_size": 14})
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})

    guide = workbook.add_worksheet("instructions")
    data = workbook.add_worksheet(table)
    lists = workbook.add_worksheet(LISTS_SHEET)

    guide.set_column(0, 0, 34)
    guide.set_column(1, 1, 90)
    guide.set_column(2, 3, 14)
    guide.write_string(0, 0, f"How to fill in: {schema.title or table}", heading)
    lines = [
        schema.description or "",
        f"Type one row per record in the sheet called '{table}', starting under the headings "
        "(row 3). Above each paradigm column, row 1 shows the statement it answers. Keep the "
        "headings in row 2 exactly as they are; leave optional cells blank rather than writing 'n/a'.",
        *(
            [
                f"This template is for {audience.site_name or prefilled}: the site_id column is "
                f"filled in with {prefilled} and cannot be changed. A row with nothing else in it "
                "is ignored, so you do not need to delete the spare rows."
            ]
            if prefilled
            else []
        ),
        "Dates can be written 2016-04-01 or 01/04/2016 (day first). Numbers are digits only "
        "(no units, no £ signs). Where a cell has a dropdown, pick from it; for answer scales you "
        "may type the number instead of the words.",
        "Never put names, addresses, dates of birth or NHS numbers anywhere in this file: use the "
        "pseudonymous codes your site agreed.",
        "Then upload the file on the reval portal; it tells you within seconds what was accepted "
        "and exactly what to fix.",
    ]
    for row, line in enumerate(lines, start=1):
        guide.write_string(row, 0, "", wrap)
        guide.merge_range(row, 0, row, 3, line, wrap)
    top = len(lines) + 2
    for col, title in enumerate(("Column", "What to write", "Required", "Allowed answers")):
        guide.write_string(top, col, title, header)

    list_col = 0
    data.set_row(0, 60)
    # row 1 is never a heading row: one sentence in A1, the paradigm statements elsewhere
    data.write_string(0, 0, "Headings are in row 2: type your rows from row 3.", note)
    for col, (name, column) in enumerate(columns):
        statement = statement_of(name, texts)
        if statement:  # the statement a paradigm column answers, above it
            write_cell(data, 0, col, statement, None, note)
        data.write_string(1, col, name, header)
        width = max(14, min(len(name) + 2, 40)) if statement is None else 30
        is_locked = name == "site_id" and prefilled
        data.set_column(col, col, width, locked_site if is_locked else unlocked)
        description = f"{column.description} {statement}" if statement else column.description
        if description:
            data.write_comment(1, col, inert(description, "cell"), {"x_scale": 2.5, "y_scale": 1.6})
        required = "no" if (not column.required or column.nullable) else "yes"
        choices = dropdown_values(column)
        if name == "site_id" and not prefilled and audience.sites and table != "sites":
            choices = list(audience.sites)  # a closed answer too: the programme's sites
        allowed = "; ".join(choices) if choices else _allowed_words(column)
        r = top + 1 + col
        guide.write_string(r, 0, name, bold)
        write_cell(guide, r, 1, description or "", None, wrap)
        guide.write_string(r, 2, required)
        guide.write_string(r, 3, allowed, wrap)
        if is_locked:
            for row in range(2, TEMPLATE_ROWS + 2):
                data.write_string(row, col, str(prefilled), locked_site)
            continue
        add_validation(data, lists, col, column, choices, list_col, first_row=2,
                       last_row=TEMPLATE_ROWS + 1)  # fmt: skip
        if choices:
            list_col += 1
    if prefilled:
        data.protect("", {"insert_rows": True, "delete_rows": True, "sort": True,
                          "autofilter": True, "format_cells": True, "format_columns": True,
                          "format_rows": True})  # fmt: skip
    data.freeze_panes(2, 0)
    lists.hide()
    data.activate()
    workbook.close()
    return path


def _allowed_words(column: pa.Column) -> str:
    checks = column_checks(column)
    dtype = str(column.dtype)
    if "in_range" in checks:
        stats = checks["in_range"]
        return f"{_plain(stats['min_value'])} to {_plain(stats['max_value'])}"
    if dtype.startswith("datetime"):
        return "a date"
    if "semicolon_list" in checks:
        return "; ".join(checks["semicolon_list"]["allowed"]) + " (separate with ;)"
    return ""


def _plain(value: object) -> str:
    text = str(value)
    return text[:10] if text[:4].isdigit() and "-" in text else text.removesuffix(".0")
