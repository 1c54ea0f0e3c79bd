"""The report library: which rendered reports exist, and who may read which.

Reports are files in ``<workspace>/reports/latest/`` written by the reporting code:
``programme.<fmt>``, ``site-<site_id>.<fmt>`` and ``participant-<site_id>.<fmt>``. Only
names of exactly those shapes are ever served, and only files that really sit in that
folder, so no request can reach anything else on disk.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from reval.portal.access import Principal

ReportKind = Literal["programme", "site", "participant"]
REPORT_NAME: Final[re.Pattern[str]] = re.compile(
    r"^(?:(?P<programme>programme)|(?P<kind>site|participant)-(?P<site>[a-z0-9][a-z0-9_-]{1,39}))"
    r"\.(?P<format>html|pdf)$"
)
MEDIA_TYPES: Final[dict[str, str]] = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


@dataclass(frozen=True)
class ReportFile:
    name: str
    kind: ReportKind
    site_id: str | None
    format: str
    path: Path
    modified: dt.datetime
    size: int

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


def may_read(who: Principal, report: ReportFile) -> bool:
    """Funders and the evaluation team read every report; a site reads its own."""
    if who.role in {"funder", "admin"}:
        return True
    return report.kind != "programme" and report.site_id == who.site_id


def find_report(latest: Path, name: str) -> ReportFile | None:
    """The report called ``name`` if it exists in ``latest`` (anything else: None)."""
    match = REPORT_NAME.match(name)
    if match is None or not latest.is_dir():
        return None
    path = latest / name
    try:
        resolved = path.resolve(strict=True)
        if resolved.parent != latest.resolve(strict=True) or not resolved.is_file():
            return None
        stat = resolved.stat()
    except (OSError, RuntimeError):
        return None
    kind: ReportKind = "programme" if match["programme"] else match["kind"]  # type: ignore[assignment]
    return ReportFile(name, kind, match["site"], match["format"], resolved,
                      dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC), stat.st_size)  # fmt: skip


def latest_reports(latest: Path, who: Principal) -> list[ReportFile]:
    """Every report in ``latest`` this user may read: programme first, then by site."""
    if not latest.is_dir():
        return []
    found = (find_report(latest, p.name) for p in latest.iterdir())
    readable = [r for r in found if r is not None and may_read(who, r)]
    order = {"programme": 0, "site": 1, "participant": 2}
    return sorted(readable, key=lambda r: (order[r.kind], r.site_id or "", r.format))
