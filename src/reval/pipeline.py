"""Use cases: what the CLI, the portal and the flows ask reval to do.

Each function composes the pure parts (readers, validation, models) with the
warehouse and the file system. Shells call these and add only their own
concerns (arguments, HTTP, tasks and retries).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import queue
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import pandas as pd

from reval.config import REPORTS_SOURCE_DIR, SAMPLE_DATA_DIR, Settings, private_files
from reval.contract import OUTCOME_POST, OUTCOME_PRE, TABLES, Contract, programme_contract
from reval.errors import RevalError
from reval.evaluation import Evaluation, evaluate_programme
from reval.identifiers import mask_name
from reval.ingest.cleaning import clean_table
from reval.ingest.cross_checks import Reference, cross_table_problems, without_rows
from reval.ingest.file_guards import inspect_upload
from reval.ingest.problems import (
    NOTE_REASONS,
    Problem,
    ProblemGroup,
    belongs_elsewhere,
    group_problems,
)
from reval.ingest.readers import file_kind, read_tables
from reval.ingest.redaction import redacted_copy
from reval.ingest.validation import ValidatedTable, validate_table
from reval.programme import PROGRAMME_FILE, load_programme, write_default_programme
from reval.reporting.render import (
    Format,
    RenderError,
    WarmKernel,
    pooled_kernel,
    quarto_command,
    render_report,
    warm_kernels,
)
from reval.spreadsheets import FixUpSheet, write_fix_up_workbook
from reval.warehouse import (
    IngestRecord,
    Warehouse,
    WarehouseDamagedError,
    WarehouseUnavailableError,
    replace_warehouse,
)


@dataclass(frozen=True)
class TableCounts:
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0


@dataclass(frozen=True)
class IngestReport:
    """What became of one file: per table counts and every problem."""

    ingest_id: str
    file: str
    sha256: str
    status: IngestStatus
    tables: dict[str, TableCounts] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    verdict: str | None = None
    """One sentence when the whole file belongs to another site or programme (then the
    rows are not worth fixing one by one)."""
    earlier: IngestRecord | None = None
    """For a duplicate: the upload of the same bytes that was loaded (when, and what
    became of it)."""

    def groups(self) -> list[ProblemGroup]:
        """The problems as people read them: the same problem on many rows is one line."""
        return group_problems(self.problems)

    @property
    def rows_accepted(self) -> int:
        return sum(t.rows_accepted for t in self.tables.values())

    @property
    def rows_rejected(self) -> int:
        return sum(t.rows_rejected for t in self.tables.values())

    @property
    def rows_read(self) -> int:
        return sum(t.rows_read for t in self.tables.values())

    @property
    def fully_accepted(self) -> bool:
        return self.status in {"loaded", "valid", "duplicate"}

    def summary(self) -> str:
        if self.status == "duplicate":
            when = (f" on {self.earlier.received_at:%d %b %Y at %H:%M} UTC (upload "
                    f"{self.earlier.ingest_id})" if self.earlier else "")  # fmt: skip
            return (f"{self.file}: already loaded{when} (same file, byte for byte); nothing new "
                    "to load.")  # fmt: skip
        if self.status == "refused":
            return (
                f"{self.file}: refused - {self.problems[0].expected}"
                if self.problems
                else self.file
            )
        tables = ", ".join(
            f"{t} {c.rows_accepted}" for t, c in self.tables.items() if c.rows_accepted
        )
        verb = {"valid": "would load", "invalid": "would load", "partly_valid": "would load"}.get(
            self.status, "accepted"
        )
        text = f"{self.file}: {self.status.replace('_', ' ')} - {self.rows_accepted} row(s) {verb}"
        text += f" ({tables})" if tables else ""
        notes = sum(p.reason in NOTE_REASONS for p in self.problems)
        if self.rows_rejected or len(self.problems) > notes:
            text += (
                f"; {self.rows_rejected} row(s) rejected, {len(self.problems) - notes} problem(s)"
            )
        text += f"; {notes} note(s)" if notes else ""
        return text

    def as_json(self) -> dict[str, object]:
        names = list(self.tables)
        return {
            "file": self.file,
            "sha256": self.sha256,
            "ingest_id": self.ingest_id,
            "table": names[0] if len(names) == 1 else ",".join(names) if names else None,
            "tables": {t: vars(c) for t, c in self.tables.items()},
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "status": self.status,
            "verdict": self.verdict,
            "problems": [
                {
                    "sheet": p.sheet,
                    "row": p.row,
                    "column": p.column,
                    "cell": p.cell,
                    "heading": p.heading,
                    "value": p.value,
                    "reason": p.reason,
                    "message": p.message(),
                }
                for p in self.problems
            ],
        }


IngestStatus = Literal[
    "loaded",
    "partly_loaded",
    "rejected",
    "refused",
    "duplicate",
    "valid",
    "partly_valid",
    "invalid",
]
"""loaded/partly_loaded/rejected: rows were (or were not) loaded; refused: the file itself
was unsafe or unreadable; duplicate: the same bytes were loaded before; valid/partly_valid/
invalid: a dry run (``reval validate``) that stored nothing."""

FILE_LEVEL_REASONS: frozenset[str] = frozenset({"missing_column"})
"""Problems that reject the whole file, not just a row."""
READ_REFUSALS: frozenset[str] = frozenset({"unreadable_file", "too_long"})
"""Reader problems that refuse the file unread: a damaged file, a cell over the size limit."""


def init_workspace(settings: Settings) -> Path:
    """Create the workspace folders, the programme file (the sample programme's, commented,
    unless one exists) and the warehouse; safe to run again."""
    private_files()  # owner-only: 0700 folders, 0600 files
    for folder in settings.workspace_dirs():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_default_programme(settings.home)
    with Warehouse(settings.warehouse_path, lock_timeout=settings.writer_lock_timeout) as warehouse:
        warehouse.verify()  # a damaged warehouse is said before any writer starts on it
    return settings.home


def archive_upload(settings: Settings, source: Path, sha256: str, original_name: str) -> Path:
    """Keep the upload before anything else happens, content-addressed by its SHA-256 and
    never overwritten: the bytes as received or, when an NHS number is anywhere in them,
    a redacted copy named ``<sha256>.redacted<suffix>`` (the original's hash, so lineage
    and "same file twice" still go by the original)."""
    suffix = "".join(
        ch for ch in Path(original_name).suffix.casefold()[:10] if ch.isalnum() or ch == "."
    )
    folder = settings.archive_dir / sha256[:2]
    for existing in (folder / f"{sha256}{suffix}", folder / f"{sha256}.redacted{suffix}"):
        if existing.exists():
            return existing
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RevalError(f"{original_name} changed while it was being received; upload it again.")
    redacted = redacted_copy(data, file_kind(original_name))
    target = folder / f"{sha256}{'.redacted' if redacted is not None else ''}{suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    # a temporary file of this request's own: the same bytes arriving twice at once
    # must not write, check or rename one shared file
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        partial.write_bytes(data if redacted is None else redacted)
        partial.replace(target)  # atomic; equal bytes either way
    finally:
        partial.unlink(missing_ok=True)
    return target


ARCHIVE_MANIFEST: str = "manifest.jsonl"
"""One JSON line per archived upload, in the order they arrived: what ``reval rebuild``
replays."""


def _note_in_manifest(settings: Settings, ingest_id: str, sha256: str, name: str,
                      site_id: str | None, received: dt.datetime, archived: Path) -> None:  # fmt: skip
    line = json.dumps({
        "ingest_id": ingest_id, "sha256": sha256, "file": name, "site_id": site_id,
        "received_at": received.isoformat(), "archive": str(archived.relative_to(settings.home)),
    })  # fmt: skip
    fd = os.open(
        settings.archive_dir / ARCHIVE_MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
    )
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def archive_manifest(settings: Settings) -> list[dict[str, str | None]]:
    """Every archived upload, oldest first."""
    path = settings.archive_dir / ARCHIVE_MANIFEST
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@dataclass(frozen=True)
class WorkspaceCheck:
    """What ``reval check`` found: rows read per table, archived files that are missing, and
    how many archived files the manifest does not list (a workspace's uploads from before
    reval kept it: only the warehouse records their order and sites)."""

    rows: dict[str, int]
    archived: int
    missing: list[str]
    unlisted: int = 0


def check_workspace(settings: Settings) -> WorkspaceCheck:
    """Read the whole warehouse (every block's checksum verified) and look for every
    archived upload; :class:`WarehouseDamagedError` says what is damaged."""
    if not settings.warehouse_path.exists():
        raise RevalError(f"There is no warehouse at {settings.warehouse_path}; run 'reval init'.")
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        rows = warehouse.verify()
        paths = [p for p in warehouse.ingests()["archive_path"] if p]
    missing = sorted({p for p in paths if not Path(p).is_file()})
    unlisted = _archived_files(settings) - _listed_files(archive_manifest(settings))
    return WorkspaceCheck(rows, len(set(paths)), missing, len(unlisted))


@dataclass(frozen=True)
class RebuildReport:
    """A warehouse rebuilt from the archive: rows per table before (None when the old one
    could not be read) and after, the files replayed and any that were missing."""

    replayed: int
    missing: list[str]
    before: dict[str, int] | None
    after: dict[str, int]
    kept_as: Path | None


def _archived_files(settings: Settings) -> set[str]:
    """Every upload kept in the archive, as ``<folder>/<file>`` under it."""
    return {f"{p.parent.name}/{p.name}" for p in settings.archive_dir.glob("??/*")
            if p.is_file() and not p.name.startswith(".")}  # fmt: skip


def _listed_files(entries: list[dict[str, str | None]]) -> set[str]:
    """The manifest's uploads, as ``<folder>/<file>`` under the archive."""
    return {f"{Path(str(e['archive'])).parent.name}/{Path(str(e['archive'])).name}"
            for e in entries}  # fmt: skip


def uploads_before_the_manifest(
    settings: Settings, listed: list[dict[str, str | None]]
) -> list[dict[str, str | None]]:
    """Manifest entries for archived uploads the manifest does not list: those of a
    workspace made before reval kept one (it lists only the uploads since). They are
    older than every listed one, so they come first, in the order the warehouse recorded
    them; without a readable warehouse their order, names and sites are unknown, and a
    rebuild of only the listed uploads would silently leave their rows out, so it stops."""
    unlisted = _archived_files(settings) - _listed_files(listed)
    if not unlisted:
        return []
    try:
        if not settings.warehouse_path.exists():
            raise FileNotFoundError(settings.warehouse_path)
        with Warehouse(settings.warehouse_path, read_only=True,
                       lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
            recorded = warehouse.recorded_uploads()
    except (WarehouseDamagedError, FileNotFoundError):
        raise RevalError(
            f"This workspace was started before reval listed every upload in "
            f"{settings.archive_dir / ARCHIVE_MANIFEST}, and its warehouse, which also recorded "
            f"them, cannot be read: {len(unlisted)} archived file(s) in {settings.archive_dir} "
            "are not in the list, so the order they arrived in, their names and the sites "
            "they came from are unknown, and rebuilding from the list alone would leave "
            "their rows out. Nothing was changed. Restore warehouse.duckdb from a backup; or "
            "move it aside, run 'reval init' and load the archived files again with 'reval "
            "ingest FILE --site SITE' in the order they arrived (oldest first). Every upload "
            "since is listed, so 'reval rebuild' can restore it from then on."
        ) from None
    entries: list[dict[str, str | None]] = []
    for row in recorded.itertuples(index=False):
        where = Path(row.archive_path or "")
        if f"{where.parent.name}/{where.name}" not in unlisted:
            continue
        entries.append({
            "ingest_id": row.ingest_id, "sha256": row.file_sha256, "file": row.original_filename,
            "site_id": None if pd.isna(row.site_id) else row.site_id,
            "received_at": row.received_at.isoformat(),
            "archive": str(settings.archive_dir.relative_to(settings.home) / where.parent.name
                           / where.name),  # relative to the workspace, as the manifest's
        })  # fmt: skip
    return entries


def rebuild_warehouse(settings: Settings) -> RebuildReport:
    """Replay every archived upload, in the order it arrived, into a new warehouse; put it
    in place of the old one (kept beside it) and compare current rows per table. Stored
    evaluation runs are not replayed: run 'reval evaluate' (or the nightly run) after."""
    listed = archive_manifest(settings)
    older = uploads_before_the_manifest(settings, listed)
    entries = older + listed
    if not entries:
        raise RevalError(
            f"There is nothing to rebuild from: {settings.archive_dir / ARCHIVE_MANIFEST} "
            "lists no archived uploads."
        )
    before: dict[str, int] | None = None
    if settings.warehouse_path.exists():
        try:
            with Warehouse(settings.warehouse_path, read_only=True,
                           lock_timeout=settings.writer_lock_timeout) as old:  # fmt: skip
                before = old.row_counts()
        except WarehouseDamagedError:
            before = None
    staging = settings.home / f".rebuild-{uuid.uuid4().hex[:8]}"
    fresh = Settings(**{**settings.model_dump(), "home": staging})
    staging.mkdir(mode=0o700)
    for name in (PROGRAMME_FILE,):
        if (settings.home / name).is_file():
            shutil.copyfile(settings.home / name, staging / name)
    missing: list[str] = []
    replayed = 0
    try:
        init_workspace(fresh)
        for entry in entries:
            archived = settings.home / str(entry["archive"])
            if not archived.is_file():
                missing.append(str(entry["archive"]))
                continue
            ingest_file(fresh, archived, str(entry["file"]), site_id=entry["site_id"],
                        archived_as=str(entry["sha256"]))  # fmt: skip
            replayed += 1
        with Warehouse(fresh.warehouse_path, read_only=True) as rebuilt:
            after = rebuilt.row_counts()
        kept_as = replace_warehouse(settings.warehouse_path, fresh.warehouse_path,
                                    lock_timeout=settings.writer_lock_timeout)  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if older:  # listed from now on: a later rebuild no longer needs the warehouse's record
        _rewrite_manifest(settings, entries)
    return RebuildReport(replayed, missing, before, after, kept_as)


def _rewrite_manifest(settings: Settings, entries: list[dict[str, str | None]]) -> None:
    lines = [json.dumps(entry) + "\n" for entry in entries]
    manifest = settings.archive_dir / ARCHIVE_MANIFEST
    staging = manifest.with_name(f".{manifest.name}.partial")
    staging.write_text("".join(lines), encoding="utf-8")
    staging.replace(manifest)


def validate_file(
    settings: Settings, path: Path, original_name: str | None = None, *, site_id: str | None = None
) -> IngestReport:
    """Dry run: every problem the file would get, storing nothing."""
    return ingest_file(settings, path, original_name, site_id=site_id, dry_run=True)


def ingest_file(
    settings: Settings,
    path: Path,
    original_name: str | None = None,
    *,
    site_id: str | None = None,
    dry_run: bool = False,
    archived_as: str | None = None,
) -> IngestReport:
    """Archive, read, validate and load one uploaded file, losing nothing.

    ``site_id`` scopes the upload to one site: rows for any other site are rejected.
    Rows are checked against the workspace's contract (its programme file, if any).
    The whole file is loaded in one transaction; the same bytes twice load nothing.
    ``archived_as`` (a rebuild replaying the archive) says ``path`` is already the
    archived copy of an upload whose SHA-256 was this: it is read, not archived again.
    """
    private_files()
    name = mask_name(Path(original_name or path.name).name)  # shown, logged and stored
    ingest_id = uuid.uuid4().hex
    contract = workspace_contract(settings)
    received = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    _kind, refusals = inspect_upload(path, name, max_bytes=settings.max_upload_bytes,
                                    max_unpacked_bytes=settings.max_unpacked_bytes)  # fmt: skip
    too_large = any(p.reason == "file_too_large" for p in refusals)
    sha256 = archived_as or _sha256_of(path)
    archived = None if (dry_run or too_large) else path if archived_as else archive_upload(
        settings, path, sha256, name)  # fmt: skip
    if archived is not None and archived_as is None:
        _note_in_manifest(settings, ingest_id, sha256, name, site_id, received, archived)

    if refusals:
        report = IngestReport(ingest_id, name, sha256, "refused" if not dry_run else "invalid",
                              problems=refusals)  # fmt: skip
        if not dry_run:
            with Warehouse(
                settings.warehouse_path, lock_timeout=settings.writer_lock_timeout
            ) as wh:
                wh.record_ingest(IngestRecord(
                    ingest_id, sha256, name, str(archived or ""), site_id, received,
                    contract.version, "refused", 0, 0, refusals[0].message()))  # fmt: skip
        return report

    read = read_tables(archived or path, original_name=name, max_cell_chars=settings.max_cell_chars)
    refusing = [p for p in read.problems if p.reason in READ_REFUSALS]
    refusing += [
        Problem(name, t.sheet, None, None, f"{len(t.frame):,} rows",
                f"is more rows than reval accepts in one sheet ({settings.max_rows_per_sheet:,}); "
                "split the file, or ask the evaluation team to raise REVAL_MAX_ROWS_PER_SHEET",
                "file_too_large")
        for t in read.tables if len(t.frame) > settings.max_rows_per_sheet
    ]  # fmt: skip
    if refusing:
        if not dry_run:
            with Warehouse(
                settings.warehouse_path, lock_timeout=settings.writer_lock_timeout
            ) as wh:
                wh.record_ingest(IngestRecord(
                    ingest_id, sha256, name, str(archived), site_id, received,
                    contract.version, "refused", 0, 0, refusing[0].message()))  # fmt: skip
        return IngestReport(ingest_id, name, sha256, "refused" if not dry_run else "invalid",
                            problems=refusing)  # fmt: skip
    validated = [
        validate_table(clean_table(sheet, contract), contract=contract) for sheet in read.tables
    ]

    if dry_run:
        reference = _reference(settings, validated, read_only=True)
        return _outcome_with_tables(
            ingest_id,
            name,
            sha256,
            read.problems,
            validated,
            reference,
            site_id,
            dry_run,
            contract=contract,
        )[0]

    with Warehouse(settings.warehouse_path, lock_timeout=settings.writer_lock_timeout) as warehouse:
        earlier = warehouse.ingest_by_sha(sha256)
        # the same bytes from another site are not "already received" for this one: they
        # go through the checks, which reject every row that is not this site's
        if earlier is not None and (site_id is None or earlier.site_id in (None, site_id)):
            warehouse.record_ingest(IngestRecord(
                ingest_id, sha256, name, str(archived), site_id or earlier.site_id, received,
                contract.version, "duplicate", 0, 0,
                f"same file as ingest {earlier.ingest_id}; nothing loaded"))  # fmt: skip
            return IngestReport(ingest_id, name, sha256, "duplicate", earlier=earlier)
        reference = warehouse_reference(warehouse, validated)
        report, final = _outcome_with_tables(
            ingest_id,
            name,
            sha256,
            read.problems,
            validated,
            reference,
            site_id,
            dry_run=False,
            contract=contract,
        )
        with warehouse.transaction():
            for table in TABLES:
                for v in (v for v in final if v.table == table):
                    warehouse.load_rows(table, v.accepted, ingest_id=ingest_id,
                                        source_sheet=v.cleaned.sheet.sheet,
                                        schema=contract.schema(table))  # fmt: skip
            warehouse.record_rejected(rejected_rows_frame(ingest_id, final))
            warehouse.record_ingest(IngestRecord(
                ingest_id, sha256, name, str(archived), site_id or _single_site(final), received,
                contract.version, report.status, report.rows_accepted, report.rows_rejected,
                report.verdict or (f"{len(report.problems)} problem(s)" if report.problems
                                   else "all rows accepted")))  # fmt: skip
    return report


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _reference(
    settings: Settings, validated: list[ValidatedTable], *, read_only: bool
) -> Reference:
    if not settings.warehouse_path.exists():
        return Reference()
    with Warehouse(settings.warehouse_path, read_only=read_only,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        return warehouse_reference(warehouse, validated)


def workspace_contract(settings: Settings) -> Contract:
    """The contract in force in a workspace: the shipped schemas refined by its programme."""
    return programme_contract(load_programme(settings.home))


def warehouse_reference(warehouse: Warehouse, validated: list[ValidatedTable]) -> Reference:
    # every row's site, rejected or not: all of a row's problems are found in one pass
    sites = sorted({
        str(s) for v in validated if "site_id" in v.cleaned.frame
        for s in v.cleaned.frame["site_id"].dropna().unique()
    })  # fmt: skip
    outcomes = {
        m["outcome"] for c in warehouse.columns("comparison_records")
        for m in [OUTCOME_PRE.match(c) or OUTCOME_POST.match(c)] if m
    }  # fmt: skip
    known_sites = warehouse.current("sites")
    return Reference(
        site_ids=frozenset(known_sites["site_id"].dropna().astype(str)),
        site_names=_site_names(known_sites),
        paradigm_items=frozenset(warehouse.known_values("paradigm_statements", "item")),
        comparison_outcomes=frozenset(outcomes),
        survey_waves=warehouse.survey_waves(sites),
        age_bands=frozenset(warehouse.known_values("survey_responses", "age_band")),
    )


def _site_names(sites: pd.DataFrame) -> dict[str, str]:
    """site_id -> site_name, for messages people read."""
    named = sites.dropna(subset=["site_id", "site_name"])
    return dict(zip(named["site_id"].astype(str), named["site_name"].astype(str), strict=True))


def _outcome(ingest_id: str, name: str, sha256: str, read_problems: list[Problem],
             validated: list[ValidatedTable], reference: Reference, site_id: str | None,
             dry_run: bool) -> IngestReport:  # fmt: skip
    return _outcome_with_tables(ingest_id, name, sha256, read_problems, validated, reference,
                                site_id, dry_run)[0]  # fmt: skip


def _outcome_with_tables(
    ingest_id: str,
    name: str,
    sha256: str,
    read_problems: list[Problem],
    validated: list[ValidatedTable],
    reference: Reference,
    site_id: str | None,
    dry_run: bool,
    *,
    contract: Contract | None = None,
) -> tuple[IngestReport, list[ValidatedTable]]:
    """Apply cross-table checks and the whole-file rules; decide the status."""
    cross = cross_table_problems(validated, reference, upload_site=site_id, contract=contract)
    final = [without_rows(v, cross) for v in validated]
    problems = list(read_problems) + [p for v in final for p in v.problems]
    if any(p.reason in FILE_LEVEL_REASONS for p in problems):
        final = [reject_all(v) for v in final]
    counts = {}
    for v in final:
        before = counts.get(v.table, TableCounts())
        counts[v.table] = TableCounts(
            before.rows_read + len(v.cleaned.frame),
            before.rows_accepted + len(v.accepted),
            before.rows_rejected + len(v.rejected_rows),
        )
    accepted = sum(c.rows_accepted for c in counts.values())
    faults = [p for p in problems if p.reason not in NOTE_REASONS]  # notes keep rows
    if dry_run:
        status: IngestStatus = "invalid" if accepted == 0 and faults else (
            "partly_valid" if faults else "valid")  # fmt: skip
    elif accepted == 0:
        status = "rejected" if faults else "loaded"
    else:
        status = "partly_loaded" if faults else "loaded"
    if not read_problems and not validated and not dry_run:
        status = "rejected"
        problems = [Problem(name, None, None, None, None,
                            "holds no rows for any table; fill in a template and upload it again",
                            "empty_file")]  # fmt: skip
    rows_read = sum(c.rows_read for c in counts.values())
    verdict = belongs_elsewhere(problems, rows_read, site_id, reference.site_names)
    return IngestReport(ingest_id, name, sha256, status, counts, problems, verdict), final


def reject_all(table: ValidatedTable) -> ValidatedTable:
    """Every row of the sheet rejected (a file-level problem such as a missing column)."""
    rows = [int(r) for r in table.cleaned.frame.index]
    return replace(table, accepted=table.accepted.iloc[0:0], rejected_rows=rows)


def rejected_rows_frame(ingest_id: str, tables: list[ValidatedTable]) -> pd.DataFrame:
    """Rejected rows as uploaded (identifiers masked), each with its problems, as JSON."""
    parts = []
    for v in tables:
        if not v.rejected_rows:
            continue
        sheet = v.cleaned.sheet
        source = v.cleaned.source.loc[v.rejected_rows]
        cells = source.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
        by_row: dict[int | None, list[dict[str, object]]] = {}
        for p in v.problems:
            by_row.setdefault(p.row, []).append(p.as_dict())
        sheet_wide = by_row.get(None, [])
        parts.append(pd.DataFrame({
            "ingest_id": ingest_id, "table_name": v.table, "sheet": sheet.sheet,
            "source_row": v.rejected_rows,
            "cells": cells.splitlines(),
            "problems": [json.dumps(by_row.get(r, []) + sheet_wide, ensure_ascii=False)
                         for r in v.rejected_rows],
        }))  # fmt: skip
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _single_site(validated: list[ValidatedTable]) -> str | None:
    sites = _site_ids(validated)
    return next(iter(sites)) if len(sites) == 1 else None


def _site_ids(validated: list[ValidatedTable]) -> set[str]:
    """The sites named in accepted rows (distinct values first: a sheet can be a million rows)."""
    return {
        s for v in validated if "site_id" in v.accepted
        for s in v.accepted["site_id"].dropna().unique()
    }  # fmt: skip


def write_fixes(settings: Settings, file_or_ingest_id: str, out: Path) -> Path:
    """Rejected rows of an upload in a workbook the site can correct and upload again:
    the template's columns and dropdowns, a problems column first, each bad cell
    highlighted with its message as a note (see :func:`write_fix_up_workbook`)."""
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        record = warehouse.ingest(file_or_ingest_id)
        candidate = Path(file_or_ingest_id)
        if record is None and candidate.is_file():
            record = warehouse.latest_ingest_of(_sha256_of(candidate))
        if record is None:
            raise UnknownUploadError(file_or_ingest_id)
        rejected = warehouse.rejected(record.ingest_id)
    sheets: list[FixUpSheet] = []
    for (table, sheet), rows in rejected.groupby(["table_name", "sheet"], dropna=False, sort=False):
        name = str(sheet) if isinstance(sheet, str) and sheet else str(table)
        problems = [[p for p in json.loads(found) if p.get("reason") not in NOTE_REASONS]
                    for found in rows["problems"]]  # fmt: skip
        if table == "paradigm_statements" and all(
            p.get("reason") == "wrong_site" for found in problems for p in found
        ):
            continue  # the evaluation team's catalogue, sent by a site: nothing there to fix
        sheets.append(FixUpSheet(table, name[:31], [json.loads(c) for c in rows["cells"]],
                                 problems, [int(r) for r in rows["source_row"]]))  # fmt: skip
    write_fix_up_workbook(
        out, sheets, source_name=record.original_filename, contract=workspace_contract(settings)
    )
    return out


class UnknownUploadError(RevalError):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"No upload matches {what!r}: give the ingest id printed by 'reval ingest' or the "
            "path of the file that was uploaded."
        )


def evaluate(settings: Settings, run_id: str | None = None) -> tuple[str, Evaluation]:
    """Fit every model on the warehouse's current data and store the results under
    ``run_id`` (new if not given; the same id again replaces that run's rows)."""
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    tables, fingerprint = programme_tables(settings)
    result = evaluate_programme(tables, contract=workspace_contract(settings))
    run_id = store_evaluation(settings, run_id or uuid.uuid4().hex, started, result, fingerprint)
    return run_id, result


def programme_tables(settings: Settings) -> tuple[dict[str, pd.DataFrame], str]:
    """The current contract tables, and the fingerprint of the uploads they come from."""
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        return warehouse.current_tables(), warehouse.inputs_fingerprint()


def run_for_current_inputs(settings: Settings) -> str | None:
    """A stored, complete run over exactly the current data (so rerunning can be skipped)."""
    version = workspace_contract(settings).version
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        return warehouse.run_for_inputs(warehouse.inputs_fingerprint(), version)


def store_evaluation(settings: Settings, run_id: str, started: dt.datetime, result: Evaluation,
                     fingerprint: str | None) -> str:  # fmt: skip
    with Warehouse(settings.warehouse_path, lock_timeout=settings.writer_lock_timeout) as warehouse:
        warehouse.store_evaluation(run_id, started, result.results, result.intended, result.failures,
                                   workspace_contract(settings).version, fingerprint,
                                   balance=result.balance,
                                   unintended=result.unintended, agreement=result.agreement,
                                   empowers=result.empowers)  # fmt: skip
    return run_id


ReportKind = Literal["programme", "site", "participant"]
REPORT_KINDS: tuple[ReportKind, ...] = ("programme", "site", "participant")
REPORT_SOURCES: dict[ReportKind, Path] = {
    kind: REPORTS_SOURCE_DIR / f"{kind}.py" for kind in REPORT_KINDS
}


def report_stem(kind: ReportKind, site_id: str | None = None) -> str:
    """File name (without extension) of a report: ``programme``, ``site-<id>``, ``participant-<id>``."""
    return "programme" if kind == "programme" else f"{kind}-{site_id}"


def planned_reports(
    settings: Settings, run_id: str | None = None, kinds: tuple[ReportKind, ...] = REPORT_KINDS,
    site_id: str | None = None,
) -> tuple[str, list[tuple[ReportKind, str | None]]]:  # fmt: skip
    """The run to report on and every (kind, site) report it gets."""
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        run = run_id or warehouse.latest_run()
        sites = sorted(warehouse.current("sites")["site_id"])
    if run is None:
        raise RevalError(
            "There are no stored results to report on yet: run 'reval evaluate' first."
        )
    if site_id is not None and site_id not in sites:
        raise RevalError(f"There is no site '{site_id}'. Sites: {', '.join(sites)}.")
    chosen = [site_id] if site_id else sites
    plan: list[tuple[ReportKind, str | None]] = []
    for kind in kinds:
        plan += [(kind, None)] if kind == "programme" else [(kind, s) for s in chosen]
    return run, plan


def render_one_report(settings: Settings, run_id: str, kind: ReportKind, site_id: str | None,
                      formats: tuple[Format, ...] = ("html", "pdf"),
                      kernel: WarmKernel | None = None) -> dict[str, Path]:  # fmt: skip
    """Render one report of a stored run into ``reports/<run_id>/``."""
    # absolute: the report runs in its own folder, where a relative home means nothing
    params = {"home": str(settings.home.resolve()), "run_id": run_id, "site_id": site_id or ""}
    stem = report_stem(kind, site_id)
    rendered = render_report(REPORT_SOURCES[kind], settings.reports_dir / run_id, stem, params,
                             formats, quarto=quarto_command(settings.quarto),
                             timeout=settings.render_timeout, kernel=kernel)  # fmt: skip
    return {f"{stem}.{fmt}": path for fmt, path in rendered.outputs.items()}


def publish_latest(settings: Settings, written: dict[str, Path]) -> Path:
    """Copy rendered reports into ``reports/latest/`` (copies, so a reader never follows a
    dangling link; each file is replaced atomically)."""
    latest = settings.reports_dir / "latest"
    latest.mkdir(parents=True, exist_ok=True)
    for name, path in written.items():
        staging = latest / f".{name}.partial"
        shutil.copyfile(path, staging)
        staging.replace(latest / name)
    return latest


@dataclass(frozen=True)
class RenderedReports:
    """What a rendering pass wrote, and which reports failed (the others are still published)."""

    run_id: str
    written: dict[str, Path]
    failed: dict[str, str]


RENDER_JOBS = 2
"""Reports rendered at once, one kernel process each: one per core of a small machine."""


def warm_report_kernels(settings: Settings, jobs: int = RENDER_JOBS) -> None:
    """Start the report kernels now, in the background, so that they are warm when the
    reports are rendered (the nightly flow calls this while its models are fitted)."""
    if quarto_command(settings.quarto) is None:  # Quarto starts kernels of its own
        warm_kernels(REPORTS_SOURCE_DIR, jobs)


def render_reports(
    settings: Settings,
    run_id: str | None = None,
    formats: tuple[Format, ...] = ("html", "pdf"),
    *,
    kinds: tuple[ReportKind, ...] = REPORT_KINDS,
    site_id: str | None = None,
    jobs: int = RENDER_JOBS,
) -> RenderedReports:
    """Render the reports of a stored run (default: the latest) and publish them to
    ``reports/latest/``. ``jobs`` workers, each with one warm kernel process, take the
    reports from one queue, the longest first, so both cores of a small machine stay busy
    to the end. One report failing does not stop the others; it is named in
    ``failed`` with the reason."""
    run, plan = planned_reports(settings, run_id, kinds, site_id)
    waiting = queue.SimpleQueue[tuple[ReportKind, str | None]]()
    for report in plan:  # the longest (programme, then site reports) first: workers end together
        waiting.put(report)

    def render_waiting() -> tuple[dict[str, Path], dict[str, str]]:
        written: dict[str, Path] = {}
        failed: dict[str, str] = {}
        with pooled_kernel(REPORTS_SOURCE_DIR) as kernel:
            while True:
                try:
                    kind, site = waiting.get_nowait()
                except queue.Empty:
                    break
                try:
                    written.update(render_one_report(settings, run, kind, site, formats, kernel))
                except RenderError as error:
                    failed[report_stem(kind, site)] = str(error)
                except Exception as error:  # whatever broke, one report never stops the rest
                    failed[report_stem(kind, site)] = f"{type(error).__name__}: {error}"
        return written, failed

    written: dict[str, Path] = {}
    failed: dict[str, str] = {}
    workers = max(1, min(jobs, len(plan)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, broke in pool.map(lambda _: render_waiting(), range(workers)):
            written.update(done)
            failed.update(broke)
    publish_latest(settings, written)
    return RenderedReports(run, written, failed)


INBOX_SUFFIXES: frozenset[str] = frozenset({".xlsx", ".ods", ".csv"})


def waiting_files(settings: Settings) -> list[Path]:
    """Files waiting in the inbox, catalogue first (other tables refer to it), then by name."""
    files = [p for p in settings.inbox_dir.glob("*") if p.is_file() and not p.name.startswith(".")]
    return sorted(files, key=lambda p: (p.stem != "paradigm_statements", p.name))


def ingest_inbox_file(settings: Settings, path: Path) -> IngestReport:
    """Ingest one inbox file and move it out of the way: to processed/ when anything was
    accepted, else to failed/ beside a .problems.txt - never deleted.

    Whatever goes wrong with one file's content moves that file aside with the reason, so
    the files behind it still load; only a warehouse problem (busy, damaged) stops the
    inbox, leaving the file where it is for the next run."""
    try:
        report = ingest_file(settings, path)
    except (WarehouseUnavailableError, MemoryError):
        raise
    except Exception as error:  # one file must not stop the night
        if type(error).__module__.startswith(("duckdb", "_duckdb")):
            raise  # the warehouse's failure, not the file's: it stays for the next run
        reason = str(error) if isinstance(error, RevalError) else type(error).__name__
        problem = Problem(path.name, None, None, None, None,
                          f"could not be processed ({reason}); it was set aside so the other "
                          "files load; send it to the evaluation team", "unreadable_file")  # fmt: skip
        report = IngestReport(uuid.uuid4().hex, mask_name(path.name), _sha256_of(path), "refused",
                              problems=[problem])  # fmt: skip
    folder = settings.inbox_dir / (
        "failed" if report.status in {"refused", "rejected"} else "processed"
    )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{report.ingest_id[:8]}-{mask_name(path.name)}"
    redacted = list(settings.archive_dir.glob(f"{report.sha256[:2]}/{report.sha256}.redacted*"))
    if redacted:  # an NHS number was in it: only the redacted copy is kept
        shutil.copyfile(redacted[0], target)
        path.unlink()
    else:
        path.replace(target)
    target.chmod(0o600)  # it arrived with whatever mode its sender gave it
    if report.problems:
        text = (
            report.summary() + "\n" + "\n".join(f"- {p.message()}" for p in report.problems) + "\n"
        )
        target.with_name(target.name + ".problems.txt").write_text(text, encoding="utf-8")
    return report


def stored_results(settings: Settings, run_id: str | None = None,
                   site_id: str | None = None) -> tuple[str | None, pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """A stored run's results (default: the latest)."""
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        run = run_id or warehouse.latest_run()
        if run is None:
            return None, pd.DataFrame(), pd.DataFrame()
        results, intended = warehouse.stored_results(run, site_id)
    return run, results, intended


def row_counts(settings: Settings) -> dict[str, int]:
    """Current rows per uploaded table (what ``reval demo`` and a status page show)."""
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        return warehouse.row_counts()


def sample_data_files(sample_dir: Path = SAMPLE_DATA_DIR) -> list[Path]:
    """The sample programme's files in the order an evaluation team would load them."""
    return [
        sample_dir / "paradigm_statements.csv",
        *sorted((sample_dir / "workbooks").glob("*.xlsx")),
    ]


def load_sample_data(settings: Settings, sample_dir: Path = SAMPLE_DATA_DIR) -> list[IngestReport]:
    init_workspace(settings)
    return [ingest_file(settings, path) for path in sample_data_files(sample_dir)]


def copy_sample_data(out_dir: Path, sample_dir: Path = SAMPLE_DATA_DIR) -> None:
    shutil.copytree(sample_dir, out_dir, dirs_exist_ok=True)
