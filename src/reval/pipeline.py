"""Use cases: what the CLI, the portal and the flows ask reval to do.

Each function composes the pure parts (readers, validation, models) with the
warehouse and the file system. Shells call these and add only their own
concerns (arguments, HTTP, tasks and retries).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from reval.config import SAMPLE_DATA_DIR, Settings
from reval.contract import TABLES, contract_version
from reval.ingest.cleaning import clean_table
from reval.ingest.problems import Problem
from reval.ingest.readers import read_tables
from reval.ingest.validation import ValidatedTable, validate_table
from reval.warehouse import IngestRecord, Warehouse


@dataclass(frozen=True)
class IngestReport:
    ingest_id: str
    file: str
    sha256: str
    status: str
    """loaded | partly_loaded | rejected | duplicate"""
    rows_accepted: dict[str, int] = field(default_factory=dict)
    rows_rejected: int = 0
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        accepted = sum(self.rows_accepted.values())
        if self.status == "duplicate":
            return f"{self.file}: already loaded (same file, byte for byte); nothing new to load."
        tables = ", ".join(f"{t} {n}" for t, n in self.rows_accepted.items() if n)
        text = f"{self.file}: {self.status.replace('_', ' ')} - {accepted} row(s) accepted"
        text += f" ({tables})" if tables else ""
        if self.rows_rejected or self.problems:
            text += f", {self.rows_rejected} row(s) rejected, {len(self.problems)} problem(s)"
        return text


def init_workspace(settings: Settings) -> Path:
    """Create the workspace folders and the warehouse; safe to run again."""
    for folder in settings.workspace_dirs():
        folder.mkdir(parents=True, exist_ok=True)
    with Warehouse(settings.warehouse_path):
        pass
    return settings.home


def archive_upload(settings: Settings, data: bytes, sha256: str, original_name: str) -> Path:
    """Keep the raw bytes before anything else happens (content-addressed, never overwritten)."""
    suffix = Path(original_name).suffix.casefold()[:10]
    target = settings.archive_dir / sha256[:2] / f"{sha256}{suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(target)
    return target


def ingest_file(settings: Settings, path: Path, original_name: str | None = None) -> IngestReport:
    """Archive, read, validate and load one uploaded file."""
    name = Path(original_name or path.name).name
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    archived = archive_upload(settings, data, sha256, name)
    ingest_id = uuid.uuid4().hex
    received = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    with Warehouse(settings.warehouse_path) as warehouse:
        earlier = warehouse.ingest_by_sha(sha256)
        if earlier is not None:
            report = IngestReport(ingest_id, name, sha256, "duplicate")
            warehouse.record_ingest(IngestRecord(
                ingest_id, sha256, name, str(archived), earlier.site_id, received,
                contract_version(), "duplicate", 0, 0,
                f"same file as ingest {earlier.ingest_id}; nothing loaded"))  # fmt: skip
            return report

        read = read_tables(archived, original_name=name)
        validated = [validate_table(clean_table(sheet)) for sheet in read.tables]
        problems = list(read.problems) + [p for v in validated for p in v.problems]
        rejected = sum(len(v.rejected_rows) for v in validated)
        accepted_rows = sum(len(v.accepted) for v in validated)
        status = _status(accepted_rows, rejected, problems)
        site_id = _single_site(validated)
        counts: dict[str, int] = {}
        with warehouse.transaction():
            for table in TABLES:
                for v in (v for v in validated if v.table == table):
                    counts[table] = counts.get(table, 0) + warehouse.load_rows(
                        table, v.accepted, ingest_id=ingest_id, source_sheet=v.cleaned.sheet.sheet
                    )
            warehouse.record_ingest(IngestRecord(
                ingest_id, sha256, name, str(archived), site_id, received, contract_version(),
                status, accepted_rows, rejected,
                f"{len(problems)} problem(s)" if problems else "all rows accepted"))  # fmt: skip
    return IngestReport(ingest_id, name, sha256, status, counts, rejected, problems)


def _status(accepted: int, rejected: int, problems: list[Problem]) -> str:
    if accepted == 0:
        return "rejected"
    return "partly_loaded" if (rejected or problems) else "loaded"


def _single_site(validated: list[ValidatedTable]) -> str | None:
    sites = {
        s for v in validated if "site_id" in v.accepted for s in v.accepted["site_id"].dropna()
    }
    return next(iter(sites)) if len(sites) == 1 else None


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
