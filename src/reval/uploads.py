"""Use cases behind the upload portal that ``pipeline.py`` does not already offer:
a site's upload history, one upload's record, and the blank templates to download.

Like ``pipeline``, these compose the warehouse and the file system; the portal calls
them and adds only HTTP.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from pathlib import Path

import pandas as pd

from reval.config import SAMPLE_DATA_DIR, Settings
from reval.errors import RevalError
from reval.ingest.problems import Problem, belongs_elsewhere
from reval.pipeline import IngestReport, TableCounts, workspace_contract
from reval.site_templates import TemplateFor, write_templates
from reval.warehouse import IngestRecord, Warehouse


def upload_history(settings: Settings, site_id: str | None, limit: int = 50) -> list[IngestRecord]:
    """The newest uploads of one site (all sites when ``site_id`` is None)."""
    if not settings.warehouse_path.exists():
        return []
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        return warehouse.ingests_of_site(site_id, limit)


def upload_record(settings: Settings, ingest_id: str) -> IngestRecord | None:
    """What the warehouse recorded about one upload, or None."""
    if not settings.warehouse_path.exists():
        return None
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        return warehouse.ingest(ingest_id)


def past_result(settings: Settings, record: IngestRecord) -> IngestReport:
    """What became of an earlier upload, for its result page: its status and counts as
    recorded, its problems as kept with its rejected rows (a refused file: the reason it
    was refused), and, when every row was another site's, that one sentence."""
    problems: list[Problem] = []
    names: dict[str, str] = {}
    earlier = None
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        rejected = warehouse.rejected(record.ingest_id)
        sites = warehouse.current("sites")
        same_as = re.match(r"same file as ingest ([0-9a-f]+)", record.message or "")
        if record.status == "duplicate" and same_as:
            earlier = warehouse.ingest(same_as[1])
    names = dict(zip(sites["site_id"].astype(str), sites["site_name"].astype(str), strict=True))
    seen: set[tuple[object, ...]] = set()
    for found in rejected["problems"]:
        for p in json.loads(found):
            fields = {k: p.get(k) for k in ("file", "sheet", "row", "column", "value", "expected",
                                             "reason", "cell", "heading")}  # fmt: skip
            key = tuple(fields.values())
            if fields["expected"] is None or key in seen:
                continue  # a record from before problems kept their parts; a sheet's, once
            seen.add(key)
            problems.append(Problem(**fields))  # type: ignore[arg-type]
    if record.status == "refused" and not problems:
        problems = [Problem(record.original_filename, None, None, None, None,
                            record.message or "could not be read", "unreadable_file")]  # fmt: skip
    read = record.rows_accepted + record.rows_rejected
    tables = {"all tables": TableCounts(read, record.rows_accepted, record.rows_rejected)}
    verdict = belongs_elsewhere(problems, read, record.site_id, names)
    return IngestReport(record.ingest_id, record.original_filename, record.file_sha256,
                        record.status, tables if read else {}, problems, verdict, earlier)  # type: ignore[arg-type]  # fmt: skip


def problem_list(settings: Settings, ingest_id: str) -> pd.DataFrame:
    """Every problem of one upload, one line each (the full detail behind a result page
    that shows the same problem on many rows as one line)."""
    with Warehouse(settings.warehouse_path, read_only=True,
                   lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
        rejected = warehouse.rejected(ingest_id)
    lines = [
        {"sheet": sheet if isinstance(sheet, str) else "", "row": int(row),
         "cell": p.get("cell") or "", "column": p.get("heading") or p.get("column") or "",
         "value found": p.get("value") or "", "what to do": p.get("message") or ""}
        for sheet, row, problems in zip(rejected["sheet"], rejected["source_row"],
                                        rejected["problems"], strict=True)
        for p in json.loads(problems)
    ]  # fmt: skip
    columns = ["sheet", "row", "cell", "column", "value found", "what to do"]
    return pd.DataFrame(lines, columns=columns)


def paradigm_catalogue(settings: Settings) -> pd.DataFrame:
    """The programme's paradigm statements (their items become survey columns): the
    warehouse's, or the sample catalogue before any is loaded."""
    if settings.warehouse_path.exists():
        with Warehouse(settings.warehouse_path, read_only=True,
                       lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
            current = warehouse.current("paradigm_statements")
        if not current.empty:
            return current.sort_values("item", ignore_index=True)
    return pd.read_csv(SAMPLE_DATA_DIR / "paradigm_statements.csv")


def site_names(settings: Settings, wait: float | None = None) -> dict[str, str]:
    """Each site's name by its code, from the sites table ({} before one is loaded);
    ``wait`` caps the wait for the writer lock (default: the settings' timeout)."""
    if not settings.warehouse_path.exists():
        return {}
    timeout = settings.writer_lock_timeout if wait is None else wait
    with Warehouse(settings.warehouse_path, read_only=True, lock_timeout=timeout) as warehouse:
        sites = warehouse.current("sites")
    return dict(zip(sites["site_id"].astype(str), sites["site_name"].astype(str), strict=True))


def template_audience(settings: Settings, site_id: str | None = None) -> TemplateFor:
    """Whom a template is for: one site (its id filled in, its name in the instructions)
    or any site of the programme (site_id a dropdown of the programme's sites)."""
    sites = pd.DataFrame(columns=["site_id", "site_name"])
    if settings.warehouse_path.exists():
        with Warehouse(settings.warehouse_path, read_only=True,
                       lock_timeout=settings.writer_lock_timeout) as warehouse:  # fmt: skip
            sites = warehouse.current("sites")
    names = dict(zip(sites["site_id"].astype(str), sites["site_name"].astype(str), strict=True))
    if site_id is not None and names and site_id not in names:
        raise UnknownSiteError(site_id, sorted(names))
    return TemplateFor(site_id, names.get(site_id or ""), tuple(sorted(names)))


class UnknownSiteError(RevalError):
    def __init__(self, site_id: str, known: list[str]) -> None:
        super().__init__(f"There is no site '{site_id}'. Sites: {', '.join(known)}.")


def blank_templates(settings: Settings, site_id: str | None = None) -> Path:
    """A folder holding ``<table>.xlsx`` per contract table of the workspace's programme
    (its title, categories and instruments), for one site (``site_id`` filled in) or any;
    made once per contract version (it changes with the programme file), catalogue, site
    list and site, and reused after that."""
    contract = workspace_contract(settings)
    catalogue = paradigm_catalogue(settings)
    audience = template_audience(settings, site_id)
    key = hashlib.sha256("\n".join([
        contract.version, *catalogue["item"].astype(str), *catalogue["statement"].astype(str),
        f"site={site_id}", f"name={audience.site_name}", *audience.sites,
    ]).encode()).hexdigest()[:16]  # fmt: skip
    folder = settings.portal_dir / "templates" / key
    if folder.is_dir():
        return folder
    partial = folder.with_name(f".{key}-{uuid.uuid4().hex}")
    write_templates(partial, catalogue, contract=contract, audience=audience)
    try:
        partial.rename(folder)
    except OSError:  # made meanwhile by another request
        shutil.rmtree(partial, ignore_errors=True)
    return folder
