"""Checks across tables and across uploads: facts one sheet cannot know alone.

Pure: the caller passes what the warehouse already holds as a :class:`Reference`
and gets problems back; rows with problems are then rejected like any other.

Every check looks at every row whose cells could be read, not only the rows that
passed the sheet's own checks: a coordinator then sees all of a row's problems in
the first answer, instead of a second round of new ones after fixing the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from reval.contract import (
    OUTCOME_POST,
    OUTCOME_PRE,
    PARADIGM_BEFORE,
    PARADIGM_NOW,
    Contract,
    default_contract,
    overlapping_age_bands,
)
from reval.ingest.problems import Problem, ReasonCode, located
from reval.ingest.validation import ValidatedTable


@dataclass(frozen=True)
class Reference:
    """What the warehouse already knows, for checking a new upload."""

    site_ids: frozenset[str] = frozenset()
    site_names: dict[str, str] = field(default_factory=dict)
    """site_id -> site_name, for messages people read."""
    paradigm_items: frozenset[str] = frozenset()
    comparison_outcomes: frozenset[str] = frozenset()
    survey_waves: dict[tuple[str, str, int], str] = field(default_factory=dict)
    """(site_id, respondent_id, wave) -> response_id already stored."""
    age_bands: frozenset[str] = frozenset()
    """Age bands already used by the programme's survey answers."""


def cross_table_problems(
    tables: list[ValidatedTable],
    reference: Reference,
    upload_site: str | None = None,
    contract: Contract | None = None,
) -> list[Problem]:
    """Problems that need more than one sheet (or earlier uploads) to see."""
    survey_measures = set((contract or default_contract()).survey_measures)
    by_table: dict[str, list[ValidatedTable]] = {}
    for t in tables:
        by_table.setdefault(t.table, []).append(t)
    # what this upload itself adds counts even where its row has a problem of its own:
    # fixing that row makes the reference good, so the rows pointing at it are not wrong
    sites = set(reference.site_ids) | {
        s for t in by_table.get("sites", []) if "site_id" in checked_rows(t)
        for s in checked_rows(t)["site_id"].dropna()
    }  # fmt: skip
    items = set(reference.paradigm_items) | {
        i for t in by_table.get("paradigm_statements", []) if "item" in checked_rows(t)
        for i in checked_rows(t)["item"].dropna()
    }  # fmt: skip
    outcomes = set(reference.comparison_outcomes) | {
        m["outcome"]
        for t in by_table.get("comparison_records", [])
        for c in checked_rows(t).columns
        for m in [OUTCOME_PRE.match(c) or OUTCOME_POST.match(c)]
        if m
    }
    problems: list[Problem] = []
    for t in tables:
        frame = checked_rows(t)
        if frame.empty:
            continue
        if upload_site is not None:
            problems += _other_site_rows(t, upload_site, reference)
        if "site_id" in frame and t.table != "sites" and not sites:
            problems += _waiting(t, "site_id", f"the sites table has not arrived yet, so these "
                                 f"{len(frame)} row(s) wait for it: their site codes are checked "
                                 "when it comes, and rows of a site it does not list are left out "
                                 "of the evaluation (and said so)")  # fmt: skip
        elif "site_id" in frame and t.table != "sites":
            unknown = frame["site_id"].notna() & ~frame["site_id"].isin(sites)
            if upload_site is not None:  # another site's row is said once, as not this site's
                unknown &= frame["site_id"] == upload_site
            problems += _flag(t, "site_id", unknown, "is not a site reval knows; check the spelling, "
                              "or ask the evaluation team to add the site first", "unknown_site")  # fmt: skip
        if t.table == "survey_responses":
            problems += _unknown_items(t, items)
            problems += _repeat_answers(t, reference)
        if t.table == "intended_outcomes" and "measure" in frame:
            problems += _unmeasured(t, survey_measures, outcomes)
    problems += _overlapping_bands(by_table.get("survey_responses", []), reference.age_bands)
    return problems


def checked_rows(t: ValidatedTable) -> pd.DataFrame:
    """Every row of the sheet as cleaned (unreadable cells blank), rejected or not."""
    return t.cleaned.frame


def _other_site_rows(t: ValidatedTable, upload_site: str, reference: Reference) -> list[Problem]:
    sheet, frame = t.cleaned.sheet, checked_rows(t)
    if "site_id" not in frame:
        return [
            Problem(
                sheet.file,
                sheet.sheet,
                int(row),
                None,
                None,
                "is a row of the paradigm statement catalogue, which the evaluation team "
                "keeps; sites cannot change it, so remove this sheet from the file",
                "wrong_site",
            )
            for row in frame.index
        ]
    other = frame["site_id"].notna() & (frame["site_id"] != upload_site)
    name = reference.site_names.get(upload_site) or upload_site
    return _flag(t, "site_id", other, f"is another site; this account uploads for {name}, so "
                 f"write {upload_site} here, or upload this row from that site's account",
                 "wrong_site")  # fmt: skip


def _flag(
    t: ValidatedTable, column: str, rows: pd.Series, expected: str, reason: ReasonCode
) -> list[Problem]:
    """A problem for each row where ``rows`` is true, showing that row's value."""
    sheet, frame = t.cleaned.sheet, checked_rows(t)
    return [
        Problem(
            sheet.file, sheet.sheet, int(row), column, str(frame.at[row, column]), expected, reason
        )
        for row in frame.index[rows.to_numpy(dtype=bool)]
    ]


def _unknown_items(t: ValidatedTable, items: set[str]) -> list[Problem]:
    """Paradigm columns whose statement the catalogue does not (yet) hold: the answers are
    kept and wait for the catalogue, said once per column (not once per row)."""
    frame = checked_rows(t)
    problems = []
    for column in frame.columns:
        match = PARADIGM_NOW.match(column) or PARADIGM_BEFORE.match(column)
        if match is None or match["item"] in items or not frame[column].notna().any():
            continue
        state = "has not arrived yet" if not items else f"has no statement '{match['item']}' yet"
        answered = [int(r) for r in frame.index[frame[column].notna()]]
        problems += _waiting(t, column, f"the paradigm statement catalogue {state}: these answers "
                             "are kept and used once the catalogue holds the statement (if the "
                             "heading is misspelt, correct it against the paradigm_statements list)",
                             rows=answered)  # fmt: skip
    return problems


def _unmeasured(t: ValidatedTable, survey_measures: set[str], outcomes: set[str]) -> list[Problem]:
    """Intended outcomes whose measure no survey instrument of the programme gives and no
    comparison extract has brought yet: kept, said once per measure, and reported at
    evaluation as "not measurable yet" until data for the measure arrives."""
    frame = checked_rows(t)
    waiting = frame["measure"].dropna()
    waiting = waiting[~waiting.isin(survey_measures | outcomes)]
    scales = ", ".join(sorted(survey_measures))
    return [
        _waiting(t, "measure", f"no data for '{measure}' has arrived: a comparison extract with "
                 f"pre_{measure} and post_{measure} columns will measure it, and until then it is "
                 f"'not measurable yet'. The survey's measures are {scales}",
                 value=str(measure), rows=[int(r) for r in group.index])[0]
        for measure, group in waiting.groupby(waiting, sort=True)
    ]  # fmt: skip


def _waiting(
    t: ValidatedTable, column: str, expected: str, *, value: str | None = None,
    rows: list[int] | None = None,
) -> list[Problem]:  # fmt: skip
    """One note for a sheet whose rows are kept but wait for a table that has not come."""
    sheet = t.cleaned.sheet
    rows = rows if rows is not None else [int(r) for r in checked_rows(t).index]
    shown = ", ".join(map(str, rows[:5])) + (" ..." if len(rows) > 5 else "")
    return [Problem(sheet.file, sheet.sheet, None, column, value,
                    f"{expected} (row {shown})", "waiting")]  # fmt: skip


def _repeat_answers(t: ValidatedTable, reference: Reference) -> list[Problem]:
    """A respondent answering the same wave twice, across uploads (within a sheet the
    schema's uniqueness rule already catches it)."""
    if not reference.survey_waves:
        return []
    sheet, frame = t.cleaned.sheet, checked_rows(t)
    if not {"site_id", "respondent_id", "wave", "response_id"} <= set(frame.columns):
        return []  # a missing key column is reported on its own
    frame = frame.dropna(subset=["site_id", "respondent_id", "wave"])
    keys = list(zip(frame["site_id"], frame["respondent_id"], frame["wave"], strict=True))
    problems = []
    for row, key, response_id in zip(frame.index, keys, frame["response_id"], strict=True):
        key = (str(key[0]), str(key[1]), int(key[2]))
        earlier = reference.survey_waves.get(key)
        if earlier is not None and earlier != response_id:
            problems.append(Problem(
                sheet.file, sheet.sheet, int(row), "respondent_id", str(key[1]),
                f"already answered wave {key[2]} (response {earlier}, uploaded earlier); "
                f"to correct that answer reuse response_id {earlier}", "duplicate_key"))  # fmt: skip
    return problems


def _overlapping_bands(tables: list[ValidatedTable], established: frozenset[str]) -> list[Problem]:
    """Age bands that share an age, said once per overlapping pair (not once per row). The
    rows are kept as written, since either band may be the one the programme means; pairs
    of bands both stored earlier were said when the second came."""
    uses: dict[str, list[tuple[ValidatedTable, int]]] = {}
    for t in tables:
        if "age_band" not in t.accepted:
            continue
        bands = t.accepted["age_band"].dropna().astype(str)
        for band, rows in bands.groupby(bands, sort=True).groups.items():
            uses.setdefault(str(band), []).extend((t, int(r)) for r in rows)
    problems = []
    for pair in overlapping_age_bands(set(uses) | established):
        if set(pair) <= established:
            continue
        band = next(b for b in reversed(pair) if b in uses)
        other = pair[0] if band == pair[1] else pair[1]
        where = uses[band]
        first = where[0][0].cleaned.sheet
        rows = ", ".join(str(r) for _, r in where[:5]) + (" ..." if len(where) > 5 else "")
        problems.append(Problem(
            first.file, first.sheet, None, "age_band", band,
            f"overlaps the age band {other} also used in this programme ({len(where)} row(s) "
            f"say {band}: row {rows}). The rows were loaded as written; a programme uses one "
            "set of bands that do not overlap, so correct the bands, or list the programme's "
            "own bands in programme.yaml", "overlapping_bands"))  # fmt: skip
    return problems


def without_rows(table: ValidatedTable, problems: list[Problem]) -> ValidatedTable:
    """The table with rows named by ``problems`` moved from accepted to rejected."""
    mine = [
        p
        for p in problems
        if p.file == table.cleaned.sheet.file and p.sheet == table.cleaned.sheet.sheet
    ]
    # one problem per cell: a cell already reported (say, a badly written site_id) is not
    # reported again by a cross-table check
    cells = {(p.row, p.column) for p in table.problems}
    mine = located(
        [p for p in mine if (p.row, p.column) not in cells], table.cleaned.sheet.headings
    )
    if not mine:
        return table
    rows = sorted({p.row for p in mine if p.row is not None} & set(table.accepted.index))
    return replace(
        table,
        accepted=table.accepted.drop(index=rows) if rows else table.accepted,
        rejected_rows=sorted(set(table.rejected_rows) | set(rows)),
        problems=sorted([*table.problems, *mine], key=lambda p: (p.row or 0, p.column or "")),
    )
