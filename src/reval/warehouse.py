"""The warehouse: the only module that talks to DuckDB.

Layout
- one table per contract table, holding its fixed columns plus lineage
  (``_ingest_id``, ``_source_sheet``, ``_source_row``) and ``_superseded_by``,
  which a later upload with the same key fills in: history is kept, queries
  read the ``current_<table>`` views;
- the open-ended survey and comparison columns (``para_<item>_now``,
  ``pre_<outcome>``...) are added to their table the first time a file
  carries them, so rows stay wide as in the contract;
- ``ingests`` records every file received, whatever became of it, and
  ``rejected_rows`` keeps every rejected row as uploaded (identifiers masked)
  with its problems, so nothing disappears without a trace.

DuckDB allows one writer per file. :class:`Warehouse` takes an inter-process
file lock for the life of a connection and waits up to a timeout, so two
ingests run one after the other instead of failing or corrupting anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import duckdb
import pandas as pd
import pandera.pandas as pa_schema
import pyarrow as pa
from filelock import FileLock, Timeout

from reval.config import private_files
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
from reval.errors import RevalError

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


def fixed_columns(
    table: TableName, schema: pa_schema.DataFrameSchema | None = None
) -> list[tuple[str, str]]:
    """(name, DuckDB type) for a table's fixed (non-pattern) columns, under ``schema``
    (default: the shipped contract with the sample programme's instruments)."""
    schema = schema if schema is not None else table_schema(table)
    return [
        (name, DUCKDB_TYPES.get(str(col.dtype), "VARCHAR"))
        for name, col in schema.columns.items()
        if not col.regex
    ]


PATTERN_COLUMNS: Final[dict[str, tuple[tuple[re.Pattern[str], str], ...]]] = {
    "survey_responses": ((PARADIGM_NOW, "SMALLINT"), (PARADIGM_BEFORE, "SMALLINT")),
    "comparison_records": ((OUTCOME_PRE, "DOUBLE"), (OUTCOME_POST, "DOUBLE")),
}


RUN_TABLES: Final[tuple[str, ...]] = (
    "results", "intended_results", "balance_results", "unintended_results", "agreement_counts",
    "empowers_profile", "evaluation_runs",
)  # fmt: skip
"""Everything stored per evaluation run."""


class WarehouseUnavailableError(RevalError):
    """The warehouse cannot be used right now (busy, or damaged): no upload is to blame."""


class WarehouseBusyError(WarehouseUnavailableError):
    """Another process is writing; the caller may try again shortly."""

    def __init__(self, path: Path, timeout: float, holder: LockHolder | None = None) -> None:
        who = f": {holder.describe()}" if holder is not None else ""
        super().__init__(
            f"The warehouse is busy with another upload or run{who}; it did not come free "
            f"within {timeout:g} s. Nothing was changed; try again in a minute."
        )
        self.holder = holder


class WarehouseDamagedError(WarehouseUnavailableError):
    """The warehouse file cannot be read: what is damaged, and how to restore it."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(
            f"The warehouse {path} is damaged ({what}), so reval cannot use it; nothing was "
            "changed. Restore it from the archive with 'reval rebuild': every archived upload "
            "is loaded again, in the order it arrived, into a new warehouse, and the damaged "
            "file is kept beside it."
        )
        self.what = what


@dataclass(frozen=True)
class LockHolder:
    """Who holds the warehouse: written beside the lock when it is taken."""

    pid: int
    command: str
    since: str
    """UTC, ISO 8601."""

    def held_seconds(self) -> float:
        since = dt.datetime.fromisoformat(self.since)
        return max(0.0, (dt.datetime.now(dt.UTC) - since).total_seconds())

    def describe(self) -> str:
        seconds = int(self.held_seconds())
        held = f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
        return f"'{self.command}' (process {self.pid}) has held it for {held}"


def lock_holder(path: Path) -> LockHolder | None:
    """Who holds the warehouse at ``path`` now, if anyone said so."""
    try:
        return LockHolder(**json.loads(Path(str(path) + ".holder").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


DAMAGE_WORDS: Final[tuple[tuple[str, str], ...]] = (
    ("not a valid DuckDB database file", "its header is not that of a DuckDB database"),
    ("checksum", "a block of it failed its checksum"),
    ("Could not read enough bytes", "it is shorter than it says it is (cut off)"),
)


def damage_words(error: BaseException) -> str:
    """What DuckDB's complaint about a damaged file means, in plain words (else its first
    line)."""
    text = str(error).strip()
    for found, words in DAMAGE_WORDS:
        if found.casefold() in text.casefold():
            return words
    return (text.splitlines()[0] if text else type(error).__name__)[:200]


def replace_warehouse(path: Path, rebuilt: Path, *, lock_timeout: float = 120.0) -> Path | None:
    """Put the warehouse file ``rebuilt`` in place of ``path`` under the writer lock; the
    old file (and its write-ahead log) is kept beside it. Returns where it was kept."""
    lock = FileLock(str(path) + ".lock", thread_local=False)
    try:
        lock.acquire(timeout=lock_timeout)
    except Timeout as busy:
        raise WarehouseBusyError(path, lock_timeout, lock_holder(path)) from busy
    try:
        kept = None
        if path.exists():
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            kept = path.with_name(f"{path.name}.replaced-{stamp}")
            path.replace(kept)
            wal = Path(str(path) + ".wal")
            if wal.exists():
                wal.replace(Path(str(kept) + ".wal"))
        rebuilt.replace(path)
        return kept
    finally:
        lock.release()


def _command_line() -> str:
    words = [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:3]]
    return " ".join(w for w in words if w)[:80]


SAME_PROCESS_WAIT: Final[float] = 120.0
"""How long a connection waits behind another of the same process (the portal's uploads
queue behind each other) whatever its own timeout for other processes."""


LOAD_SLICE_ROWS: Final[int] = 200_000


def _arrow_rows(rows: pd.DataFrame, names: list[str]) -> pa.Table:
    """``names`` of ``rows`` as an Arrow table (a column the rows lack is all null), with
    the source row numbers as ``_source_row``."""
    present = [name for name in names if name in rows.columns]
    table = pa.Table.from_pandas(rows[present], preserve_index=False)
    for name in names:
        if name not in present:
            table = table.append_column(name, pa.nulls(len(rows)))
    return table.append_column("_source_row", pa.array(rows.index.to_numpy(dtype="int64")))


class Warehouse:
    """A connection to the warehouse file, holding the writer lock. Use as a context manager."""

    def __init__(self, path: Path, *, read_only: bool = False, lock_timeout: float = 120.0) -> None:
        self.path = path
        private_files()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = FileLock(str(path) + ".lock", thread_local=False)
        self._holder = Path(str(path) + ".holder")
        self._take_lock(lock_timeout)
        try:
            if read_only and not path.exists():
                duckdb.connect(str(path)).close()
            try:
                self.con = duckdb.connect(str(path), read_only=read_only)
                if not read_only:
                    self.create_schema()
            except duckdb.Error as error:
                raise WarehouseDamagedError(path, damage_words(error)) from error
        except BaseException:
            self._release_lock()
            raise

    def _take_lock(self, lock_timeout: float) -> None:
        """Wait for the writer lock: up to ``lock_timeout`` behind another process, longer
        (:data:`SAME_PROCESS_WAIT`) behind this one's own connections; then say who holds it."""
        started = time.monotonic()
        while True:
            try:
                self._lock.acquire(timeout=0.25)
                break
            except Timeout:
                waited = time.monotonic() - started
                holder = lock_holder(self.path)
                ours = holder is not None and holder.pid == os.getpid()
                if waited >= (max(lock_timeout, SAME_PROCESS_WAIT) if ours else lock_timeout):
                    raise WarehouseBusyError(self.path, lock_timeout, holder) from None
        try:
            since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            holder_text = json.dumps(asdict(LockHolder(os.getpid(), _command_line(), since)))
            self._holder.write_text(holder_text, encoding="utf-8")
        except OSError:
            pass  # who holds it is a courtesy for the busy message, never a reason to fail

    def _release_lock(self) -> None:
        with suppress(OSError):
            self._holder.unlink()
        self._lock.release()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._release_lock()

    def verify(self) -> dict[str, int]:
        """Read every row of every table (DuckDB checks each block's checksum as it reads):
        rows per table, or :class:`WarehouseDamagedError` naming what could not be read."""
        counts: dict[str, int] = {}
        try:
            tables = [r[0] for r in self.con.execute(
                "SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]  # fmt: skip
        except duckdb.Error as error:
            raise WarehouseDamagedError(self.path, damage_words(error)) from error
        for table in tables:
            try:
                reader = self.con.sql(f'SELECT * FROM "{table}"').to_arrow_reader(100_000)
                counts[table] = sum(batch.num_rows for batch in reader)
            except duckdb.Error as error:
                raise WarehouseDamagedError(
                    self.path, f"table {table} cannot be read: {damage_words(error)}"
                ) from error
        return counts

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
            self._refresh_view(table)
        self._create_results_tables()
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS rejected_rows (
                ingest_id VARCHAR NOT NULL, table_name VARCHAR, sheet VARCHAR,
                source_row INTEGER, cells JSON NOT NULL, problems JSON NOT NULL)
            """
        )

    def _create_results_tables(self) -> None:
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS evaluation_runs (
                run_id VARCHAR PRIMARY KEY, started_at TIMESTAMP NOT NULL,
                finished_at TIMESTAMP NOT NULL, schema_version VARCHAR NOT NULL,
                status VARCHAR NOT NULL, failures JSON NOT NULL, inputs_fingerprint VARCHAR)
            """
        )
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS results (
                run_id VARCHAR NOT NULL, site_id VARCHAR NOT NULL, measure VARCHAR NOT NULL,
                kind VARCHAR NOT NULL, wave INTEGER, estimate DOUBLE, ci_low DOUBLE,
                ci_high DOUBLE, n INTEGER, status VARCHAR NOT NULL, message VARCHAR)
            """
        )
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS intended_results (
                run_id VARCHAR NOT NULL, site_id VARCHAR NOT NULL, outcome_id VARCHAR NOT NULL,
                measure VARCHAR NOT NULL, direction VARCHAR, target DOUBLE, signed_estimate DOUBLE,
                signed_ci_low DOUBLE, signed_ci_high DOUBLE, classification VARCHAR NOT NULL,
                gas_level INTEGER)
            """
        )
        # verdict details added later: older warehouses gain the columns in place
        for column, sql_type in (("wave", "INTEGER"), ("source", "VARCHAR"), ("n", "INTEGER"),
                                 ("margin", "DOUBLE"), ("p_value", "DOUBLE"), ("p_adjusted", "DOUBLE"),
                                 ("fdr_flag", "BOOLEAN"), ("gas_basis", "VARCHAR"),
                                 ("why_not_measurable", "VARCHAR")):  # fmt: skip
            self.con.execute(
                f"ALTER TABLE intended_results ADD COLUMN IF NOT EXISTS {column} {sql_type}"
            )
        # what the reports draw besides the estimates: covariate balance per matched
        # comparison (love plots) and the outcomes nobody intended
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS balance_results (
                run_id VARCHAR NOT NULL, site_id VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
                covariate VARCHAR NOT NULL, smd_before DOUBLE, smd_after DOUBLE,
                var_ratio_before DOUBLE, var_ratio_after DOUBLE, flag BOOLEAN)
            """
        )
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS agreement_counts (
                run_id VARCHAR NOT NULL, site_id VARCHAR NOT NULL, wave INTEGER NOT NULL,
                item VARCHAR NOT NULL, disagree INTEGER, neither INTEGER, agree INTEGER)
            """
        )
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS empowers_profile (
                run_id VARCHAR NOT NULL, site_id VARCHAR NOT NULL, wave INTEGER NOT NULL,
                behaviour VARCHAR NOT NULL, mean DOUBLE, ci_low DOUBLE, ci_high DOUBLE, n INTEGER)
            """
        )
        self.con.execute(
            """
            CREATE TABLE IF NOT EXISTS unintended_results (
                run_id VARCHAR NOT NULL, site_id VARCHAR NOT NULL, source VARCHAR NOT NULL,
                what VARCHAR, estimate DOUBLE, ci_low DOUBLE, ci_high DOUBLE, valence VARCHAR)
            """
        )

    def store_evaluation(
        self,
        run_id: str,
        started_at: dt.datetime,
        results: pd.DataFrame,
        intended: pd.DataFrame,
        failures: list[dict[str, str]],
        schema_version: str,
        inputs_fingerprint: str | None = None,
        *,
        balance: pd.DataFrame | None = None,
        unintended: pd.DataFrame | None = None,
        agreement: pd.DataFrame | None = None,
        empowers: pd.DataFrame | None = None,
    ) -> None:
        """Replace everything stored for ``run_id`` in one transaction (a rerun of the same
        run id stores the same rows once)."""
        finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.transaction():
            for table in RUN_TABLES:
                self.con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
            self.con.execute(
                "INSERT INTO evaluation_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                [run_id, started_at, finished, schema_version,
                 "partly_failed" if failures else "ok", json.dumps(failures), inputs_fingerprint],
            )  # fmt: skip
            if not results.empty:
                self._append("results", results.assign(run_id=run_id))
            if not intended.empty:
                self._append("intended_results", intended.assign(run_id=run_id))
            for table, frame in (("balance_results", balance), ("unintended_results", unintended),
                                 ("agreement_counts", agreement), ("empowers_profile", empowers)):  # fmt: skip
                if frame is not None and not frame.empty:
                    wanted = [c for c in self.columns(table) if c in frame.columns]
                    self._append(table, frame[wanted].assign(run_id=run_id))

    def inputs_fingerprint(self) -> str:
        """Which uploads the current data come from: equal fingerprints, equal inputs."""
        ids = sorted({
            str(r[0]) for table in TABLES
            for r in self.con.execute(f"SELECT DISTINCT _ingest_id FROM current_{table}").fetchall()
        })  # fmt: skip
        return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]

    def run_for_inputs(self, fingerprint: str, schema_version: str) -> str | None:
        """The latest complete run over exactly these inputs, if any."""
        row = self.con.execute(
            "SELECT run_id FROM evaluation_runs WHERE inputs_fingerprint = ? AND schema_version = ? "
            "AND status = 'ok' ORDER BY finished_at DESC LIMIT 1",
            [fingerprint, schema_version],
        ).fetchone()
        return None if row is None else str(row[0])

    def latest_run(self) -> str | None:
        row = self.con.execute(
            "SELECT run_id FROM evaluation_runs ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def stored_results(
        self, run_id: str, site_id: str | None = None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        where, params = "WHERE run_id = ?", [run_id]
        if site_id is not None:
            where, params = where + " AND site_id = ?", [run_id, site_id]
        results = self.con.execute(
            f"SELECT * EXCLUDE (run_id) FROM results {where} ORDER BY site_id, kind, measure, wave",
            params,
        ).df()
        intended = self.con.execute(
            f"SELECT * EXCLUDE (run_id) FROM intended_results {where} ORDER BY site_id, outcome_id",
            params,
        ).df()
        return results, intended

    def run_tables(self, run_id: str, site_id: str | None = None) -> dict[str, pd.DataFrame]:
        """What a report of one run draws on, for one site (with the pooled rows) or all."""
        where, params = "WHERE run_id = ?", [run_id]
        if site_id is not None:
            where += " AND site_id IN (?, 'all')"
            params = [run_id, site_id]
        order = {"results": "site_id, kind, measure, wave", "intended_results": "site_id, outcome_id",
                 "balance_results": "site_id, outcome", "unintended_results": "site_id, source",
                 "agreement_counts": "site_id, item, wave", "empowers_profile": "site_id, wave"}  # fmt: skip
        tables = {
            table: self.con.execute(
                f"SELECT * EXCLUDE (run_id) FROM {table} {where} ORDER BY {columns}", params
            ).df()
            for table, columns in order.items()
        }
        tables["evaluation_runs"] = self.con.execute(
            "SELECT * FROM evaluation_runs WHERE run_id = ?", [run_id]
        ).df()
        return tables

    def rejection_reasons(self) -> pd.DataFrame:
        """Rejected rows per ingest, table and reason (a row with two problems counts once
        under each reason)."""
        return self.con.execute(
            """
            WITH reasons AS (
                SELECT ingest_id, table_name, source_row,
                       unnest(CAST(json_extract_string(problems, '$[*].reason') AS VARCHAR[])) AS reason
                FROM rejected_rows)
            SELECT ingest_id, table_name, reason, count(DISTINCT source_row) AS rows
            FROM reasons GROUP BY ALL ORDER BY ALL
            """
        ).df()

    def _refresh_view(self, table: str) -> None:
        self.con.execute(
            f"CREATE OR REPLACE VIEW current_{table} AS "
            f"SELECT * EXCLUDE (_superseded_by) FROM {table} WHERE _superseded_by IS NULL"
        )

    def _add_pattern_columns(self, table: str, columns: list[str]) -> list[str]:
        """Add open-ended columns (para_<item>_now, pre_<outcome>...) the table lacks."""
        patterns = PATTERN_COLUMNS.get(table, ())
        existing = set(self.columns(table))
        added = []
        for column in columns:
            sql_type = next((t for p, t in patterns if p.match(column)), None)
            if sql_type is None:
                continue
            if column not in existing:
                self.con.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" {sql_type}')
                existing.add(column)
            added.append(column)
        if added:
            self._refresh_view(table)
        return added

    def _add_contract_columns(self, table: str, fixed: list[tuple[str, str]]) -> None:
        """Add the contract's fixed columns the table lacks (items of a programme's
        instruments); rows loaded earlier leave them blank."""
        existing = set(self.columns(table))
        missing = [(name, sql_type) for name, sql_type in fixed if name not in existing]
        for name, sql_type in missing:
            self.con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {sql_type}')
        if missing:
            self._refresh_view(table)

    def columns(self, table: str) -> list[str]:
        return [row[0] for row in self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position", [table]).fetchall()]  # fmt: skip

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
        self,
        table: TableName,
        rows: pd.DataFrame,
        *,
        ingest_id: str,
        source_sheet: str | None,
        schema: pa_schema.DataFrameSchema | None = None,
    ) -> int:
        """Append validated rows (index = source row numbers); earlier rows with the same
        key are marked superseded by this ingest. Call inside :meth:`transaction`.

        ``schema`` is the table's schema in the workspace's contract: columns it has and the
        table lacks (another programme's instrument items, say) are added first."""
        if rows.empty:
            return 0
        fixed = fixed_columns(table, schema)
        self._add_contract_columns(table, fixed)
        names = [name for name, _ in fixed]
        names += self._add_pattern_columns(table, [str(c) for c in rows.columns])
        dates = {name for name, sql_type in fixed if sql_type == "DATE"}
        selected = [f'CAST("{n}" AS DATE)' if n in dates else f'"{n}"' for n in names]
        keys = table_keys(table)
        # every earlier row with an incoming key is superseded before any row goes in
        self.con.register("incoming_rows", _arrow_rows(rows, keys))
        try:
            match = " AND ".join(f't."{k}" = i."{k}"' for k in keys)
            self.con.execute(
                f"UPDATE {table} AS t SET _superseded_by = ? FROM incoming_rows AS i "
                f"WHERE t._superseded_by IS NULL AND {match}",
                [ingest_id],
            )
        finally:
            self.con.unregister("incoming_rows")
        cols = ", ".join(f'"{c}"' for c in names)
        # Arrow columns, not pandas objects, and a slice at a time: DuckDB scans them without
        # a per-cell conversion, and only one slice's Arrow copy exists at once
        for start in range(0, len(rows), LOAD_SLICE_ROWS):
            self.con.register(
                "incoming_rows", _arrow_rows(rows.iloc[start : start + LOAD_SLICE_ROWS], names)
            )
            try:
                self.con.execute(
                    f"INSERT INTO {table} ({cols}, _ingest_id, _source_sheet, _source_row, "
                    f"_superseded_by) SELECT {', '.join(selected)}, ?, ?, _source_row, NULL "
                    "FROM incoming_rows",
                    [ingest_id, source_sheet],
                )
            finally:
                self.con.unregister("incoming_rows")
        return len(rows)

    def record_rejected(self, rejected: pd.DataFrame) -> None:
        """Keep rejected rows with their problems: columns ingest_id, table_name, sheet,
        source_row, cells (JSON text), problems (JSON text)."""
        if not rejected.empty:
            self._append("rejected_rows", rejected)

    def _append(self, table: str, frame: pd.DataFrame) -> None:
        self.con.register("appending", frame)
        try:
            cols = ", ".join(f'"{c}"' for c in frame.columns)
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

    def recorded_uploads(self) -> pd.DataFrame:
        """Every upload recorded, oldest first, or :class:`WarehouseDamagedError` when the
        record cannot be read (a rebuild asks a warehouse that may be damaged)."""
        try:
            return self.ingests()
        except duckdb.Error as error:
            raise WarehouseDamagedError(
                self.path, f"table ingests cannot be read: {damage_words(error)}"
            ) from error

    def current(self, table: TableName, site_id: str | None = None) -> pd.DataFrame:
        """Current rows of a contract table, as in the contract, lineage dropped."""
        where, params = ("", []) if site_id is None or table == "paradigm_statements" else (
            " WHERE site_id = ?", [site_id])  # fmt: skip
        frame = self.con.execute(
            f"SELECT * EXCLUDE (_ingest_id, _source_sheet, _source_row) FROM current_{table}{where}",
            params,
        ).df()
        if table in PATTERN_COLUMNS and site_id is not None:
            # open-ended columns another site added are not this site's columns
            patterns = [p for p, _ in PATTERN_COLUMNS[table]]
            unused = [c for c in frame.columns
                      if any(p.match(c) for p in patterns) and frame[c].isna().all()]  # fmt: skip
            frame = frame.drop(columns=unused)
        return frame

    def rejected(self, ingest_id: str) -> pd.DataFrame:
        return self.con.execute(
            "SELECT table_name, sheet, source_row, cells, problems FROM rejected_rows "
            "WHERE ingest_id = ? ORDER BY table_name, sheet, source_row",
            [ingest_id],
        ).df()

    def ingest(self, ingest_id: str) -> IngestRecord | None:
        row = self.con.execute("SELECT * FROM ingests WHERE ingest_id = ?", [ingest_id]).fetchone()
        return None if row is None else IngestRecord(*row)

    def latest_ingest_of(self, sha256: str) -> IngestRecord | None:
        row = self.con.execute(
            "SELECT * FROM ingests WHERE file_sha256 = ? AND status <> 'duplicate' "
            "ORDER BY received_at DESC LIMIT 1",
            [sha256],
        ).fetchone()
        return None if row is None else IngestRecord(*row)

    def known_values(self, table: TableName, column: str) -> set[str]:
        return {str(r[0]) for r in self.con.execute(
            f'SELECT DISTINCT "{column}" FROM current_{table} WHERE "{column}" IS NOT NULL').fetchall()}  # fmt: skip

    def survey_waves(self, site_ids: list[str]) -> dict[tuple[str, str, int], str]:
        """(site, respondent, wave) -> response_id of the current answers."""
        if not site_ids:
            return {}
        rows = self.con.execute(
            "SELECT site_id, respondent_id, wave, response_id FROM current_survey_responses "
            "WHERE list_contains(?, site_id)",
            [site_ids],
        ).fetchall()
        return {(s, r, int(w)): rid for s, r, w, rid in rows}

    def current_tables(self) -> dict[str, pd.DataFrame]:
        """Every contract table as it stands now (what the models read)."""
        return {table: self.current(table) for table in TABLES}

    def row_counts(self) -> dict[str, int]:
        return {
            table: int(self.con.execute(f"SELECT count(*) FROM current_{table}").fetchone()[0])
            for table in TABLES
        }

    # --- portal: upload history (reval.uploads) ------------------------------------------

    def ingests_of_site(self, site_id: str | None, limit: int = 50) -> list[IngestRecord]:
        """The newest ``limit`` uploads of one site (every site when ``site_id`` is None),
        for the portal's upload history."""
        where, params = ("", []) if site_id is None else ("WHERE site_id = ? ", [site_id])
        rows = self.con.execute(
            f"SELECT * FROM ingests {where}ORDER BY received_at DESC, ingest_id LIMIT ?",
            [*params, limit],
        ).fetchall()
        return [IngestRecord(*row) for row in rows]
