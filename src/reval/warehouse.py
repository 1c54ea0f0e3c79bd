"""The warehouse: the only module that talks to DuckDB.

Layout
- one table per contract table, holding its fixed columns plus lineage
  (``_ingest_id``, ``_source_sheet``, ``_source_row``) and ``_superseded_by``,
  which a later upload with the same key fills in: history is kept, queries
  read the ``current_<table>`` views;
- the open-ended survey and comparison columns (``para_<item>_now``,
  ``pre_<outcome>``...) are stored long, in ``paradigm_ratings`` and
  ``comparison_outcomes``, and pivoted back when read;
- ``ingests`` records every file received, whatever became of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import pandas as pd

from reval.contract import (
    OUTCOME_POST,
    OUTCOME_PRE,
    PARADIGM_BEFORE,
    PARADIGM_NOW,
    TABLES,
    TableName,
    table_keys,
    table_schema,
)

LINEAGE_COLUMNS: Final[str] = (
    "_ingest_id VARCHAR NOT NULL, _source_sheet VARCHAR, _source_row INTEGER, "
    "_superseded_by VARCHAR"
)
DUCKDB_TYPES: Final[dict[str, str]] = {
    "str": "VARCHAR",
    "string": "VARCHAR",
    "Int64": "BIGINT",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "datetime64[ns]": "DATE",
}


@dataclass(frozen=True)
class IngestRecord:
    ingest_id: str
    file_sha256: str
    original_filename: str
    archive_path: str
    site_id: str | None
    received_at: dt.datetime
    schema_version: str
    status: str
    rows_accepted: int
    rows_rejected: int
    message: str


def fixed_columns(table: TableName) -> list[tuple[str, str]]:
    """(name, DuckDB type) for a table's fixed (non-pattern) columns."""
    schema = table_schema(table)
    return [
        (name, DUCKDB_TYPES.get(str(col.dtype), "VARCHAR"))
        for name, col in schema.columns.items()
        if not col.regex
    ]


class Warehouse:
    """A connection to the warehouse file. Use as a context manager."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(path), read_only=read_only)
        if not read_only:
            self.create_schema()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.begin()
        try:
            yield self.con
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()

    # --- schema ---------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create every table and view if missing (idempotent)."""
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS ingests (
                ingest_id VARCHAR PRIMARY KEY, file_sha256 VARCHAR NOT NULL,
                original_filename VARCHAR NOT NULL, archive_path VARCHAR NOT NULL,
                site_id VARCHAR, received_at TIMESTAMP NOT NULL, schema_version VARCHAR NOT NULL,
                status VARCHAR NOT NULL, rows_accepted INTEGER NOT NULL,
                rows_rejected INTEGER NOT NULL, message VARCHAR NOT NULL)
            """
        )
        for table in TABLES:
            columns = ", ".join(f'"{name}" {sql_type}' for name, sql_type in fixed_columns(table))
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns}, {LINEAGE_COLUMNS})")
            self.con.execute(
                f"CREATE OR REPLACE VIEW current_{table} AS "
                f"SELECT * EXCLUDE (_superseded_by) FROM {table} WHERE _superseded_by IS NULL"
            )
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS paradigm_ratings (
                response_id VARCHAR NOT NULL, item VARCHAR NOT NULL, timing VARCHAR NOT NULL,
                rating SMALLINT, _ingest_id VARCHAR NOT NULL)
            """
        )
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS comparison_outcomes (
                person_id VARCHAR NOT NULL, outcome VARCHAR NOT NULL, pre DOUBLE, post DOUBLE,
                _ingest_id VARCHAR NOT NULL)
            """
        )

    # --- writes ---------------------------------------------------------------------------

    def record_ingest(self, record: IngestRecord) -> None:
        self.con.execute(
            "INSERT INTO ingests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record.ingest_id, record.file_sha256, record.original_filename,
                record.archive_path, record.site_id, record.received_at, record.schema_version,
                record.status, record.rows_accepted, record.rows_rejected, record.message,
            ],
        )  # fmt: skip

    def load_rows(
        self, table: TableName, rows: pd.DataFrame, *, ingest_id: str, source_sheet: str | None
    ) -> int:
        """Append validated rows (index = source row numbers); earlier rows with the same
        key are marked superseded by this ingest. Call inside :meth:`transaction`."""
        if rows.empty:
            return 0
        names = [name for name, _ in fixed_columns(table)]
        incoming = pd.DataFrame({name: rows.get(name, None) for name in names})
        for name, sql_type in fixed_columns(table):
            if sql_type == "DATE":
                incoming[name] = pd.to_datetime(incoming[name]).dt.date
        incoming["_ingest_id"] = ingest_id
        incoming["_source_sheet"] = source_sheet
        incoming["_source_row"] = rows.index.to_numpy(dtype="int64")
        keys = table_keys(table)
        self.con.register("incoming_rows", incoming)
        try:
            match = " AND ".join(f't."{k}" = i."{k}"' for k in keys)
            self.con.execute(
                f"UPDATE {table} AS t SET _superseded_by = ? FROM incoming_rows AS i "
                f"WHERE t._superseded_by IS NULL AND {match}",
                [ingest_id],
            )
            cols = ", ".join(
                f'"{c}"' for c in [*names, "_ingest_id", "_source_sheet", "_source_row"]
            )
            self.con.execute(
                f"INSERT INTO {table} ({cols}, _superseded_by) SELECT {cols}, NULL FROM incoming_rows"
            )
        finally:
            self.con.unregister("incoming_rows")
        if table == "survey_responses":
            self._load_paradigm_ratings(rows, ingest_id)
        elif table == "comparison_records":
            self._load_comparison_outcomes(rows, ingest_id)
        return len(incoming)

    def _load_paradigm_ratings(self, rows: pd.DataFrame, ingest_id: str) -> None:
        parts = []
        for column in rows.columns:
            for pattern, timing in ((PARADIGM_NOW, "now"), (PARADIGM_BEFORE, "before")):
                match = pattern.match(column)
                if match:
                    parts.append(pd.DataFrame({
                        "response_id": rows["response_id"].astype(str).to_numpy(),
                        "item": match["item"], "timing": timing,
                        "rating": rows[column].astype("Int64").to_numpy(),
                    }))  # fmt: skip
        if parts:
            long = pd.concat(parts, ignore_index=True).dropna(subset=["rating"])
            long["_ingest_id"] = ingest_id
            self._append("paradigm_ratings", long)

    def _load_comparison_outcomes(self, rows: pd.DataFrame, ingest_id: str) -> None:
        outcomes = sorted(
            {
                m["outcome"]
                for c in rows.columns
                for m in [OUTCOME_PRE.match(c) or OUTCOME_POST.match(c)]
                if m
            }
        )
        parts = [
            pd.DataFrame({
                "person_id": rows["person_id"].astype(str).to_numpy(),
                "outcome": outcome,
                "pre": rows[f"pre_{outcome}"].astype("float64").to_numpy() if f"pre_{outcome}" in rows else None,
                "post": rows[f"post_{outcome}"].astype("float64").to_numpy() if f"post_{outcome}" in rows else None,
            })
            for outcome in outcomes
        ]  # fmt: skip
        if parts:
            long = pd.concat(parts, ignore_index=True)
            long["_ingest_id"] = ingest_id
            self._append("comparison_outcomes", long)

    def _append(self, table: str, frame: pd.DataFrame) -> None:
        self.con.register("appending", frame)
        try:
            cols = ", ".join(frame.columns)
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM appending")
        finally:
            self.con.unregister("appending")

    # --- reads ----------------------------------------------------------------------------

    def ingest_by_sha(self, sha256: str) -> IngestRecord | None:
        row = self.con.execute(
            "SELECT * FROM ingests WHERE file_sha256 = ? AND status IN ('loaded', 'partly_loaded') "
            "ORDER BY received_at LIMIT 1",
            [sha256],
        ).fetchone()
        return None if row is None else IngestRecord(*row)

    def ingests(self) -> pd.DataFrame:
        return self.con.execute("SELECT * FROM ingests ORDER BY received_at").df()

    def current(self, table: TableName, site_id: str | None = None) -> pd.DataFrame:
        """Current rows of a contract table, wide as in the contract, lineage dropped."""
        where, params = ("", []) if site_id is None or table == "paradigm_statements" else (
            " WHERE site_id = ?", [site_id])  # fmt: skip
        frame = self.con.execute(
            f"SELECT * EXCLUDE (_ingest_id, _source_sheet, _source_row) FROM current_{table}{where}",
            params,
        ).df()
        if table == "survey_responses":
            frame = self._with_paradigm_columns(frame)
        elif table == "comparison_records":
            frame = self._with_outcome_columns(frame)
        return frame

    def _with_paradigm_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        ratings = self.con.execute(
            "SELECT r.response_id, 'para_' || r.item || '_' || r.timing AS col, r.rating "
            "FROM paradigm_ratings r JOIN current_survey_responses s "
            "ON r.response_id = s.response_id AND r._ingest_id = s._ingest_id"
        ).df()
        if ratings.empty:
            return frame
        wide = ratings.pivot(index="response_id", columns="col", values="rating").astype("Int64")
        return frame.merge(
            wide.sort_index(axis=1), left_on="response_id", right_index=True, how="left"
        )

    def _with_outcome_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        long = self.con.execute(
            "SELECT o.person_id, o.outcome, o.pre, o.post FROM comparison_outcomes o "
            "JOIN current_comparison_records c ON o.person_id = c.person_id AND o._ingest_id = c._ingest_id"
        ).df()
        if long.empty:
            return frame
        wide = long.pivot(index="person_id", columns="outcome", values=["pre", "post"])
        wide.columns = [f"{timing}_{outcome}" for timing, outcome in wide.columns]
        return frame.merge(
            wide.sort_index(axis=1), left_on="person_id", right_index=True, how="left"
        )

    def row_counts(self) -> dict[str, int]:
        return {
            table: int(self.con.execute(f"SELECT count(*) FROM current_{table}").fetchone()[0])
            for table in TABLES
        }
