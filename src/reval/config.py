"""Settings and paths: the only module that reads the environment.

Every other module receives a :class:`Settings` (or the paths it needs) as an
argument, so tests and flows can point reval at any workspace without touching
global state.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The source checkout (schemas/, sample_data/ and reports/ live here)."""

SCHEMAS_DIR = PROJECT_ROOT / "schemas"
SAMPLE_DATA_DIR = PROJECT_ROOT / "sample_data"
REPORTS_SOURCE_DIR = PROJECT_ROOT / "reports"

# Prefect phones home unless told not to; reval runs on closed networks, so the
# defaults are set before Prefect is ever imported (an explicit value wins).
PREFECT_OFFLINE_DEFAULTS: dict[str, str] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_UI_ENABLED": "false",
    # Prefect's local server gets 20 s to start by default, too short on two busy cores
    # (Prefect issue 16397); reval also retries once (flows/local_server.py).
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def cache_dir() -> Path:
    """reval's per-user cache (``REVAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/reval`` or
    ``~/.cache/reval``): things any workspace on this machine may start from, never data."""
    configured = os.environ.get("REVAL_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reval"


class Settings(BaseSettings):
    """Where reval keeps its workspace and how much it accepts.

    Values come from ``REVAL_*`` environment variables (e.g. ``REVAL_HOME``)
    and fall back to a ``.reval/`` folder in the working directory.
    """

    model_config = SettingsConfigDict(env_prefix="REVAL_", frozen=True)

    home: Path = Field(default_factory=lambda: Path.cwd() / ".reval")
    """Workspace folder: warehouse, archive, inbox and rendered reports."""

    max_upload_bytes: int = 25 * 1024 * 1024
    """Largest spreadsheet accepted; bigger files are refused unread."""

    max_unpacked_bytes: int = 200 * 1024 * 1024
    """Largest total unpacked size of an .xlsx/.ods zip (zip-bomb guard)."""

    max_rows_per_sheet: int = 1_000_000
    """Rows read from one sheet before the file is refused as implausible."""

    max_cell_chars: int = 32_767
    """Longest text accepted in one cell (Excel's own limit); a file with a longer cell is
    refused, naming the file, sheet, row and column."""

    quarto: str | None = None
    """Path of the Quarto CLI (REVAL_QUARTO); when unset, ``quarto`` on PATH, else the
    built-in renderer that needs no Quarto."""

    render_timeout: float = 600.0
    """Seconds one report may take to render before it is stopped and reported."""

    writer_lock_timeout: float = 120.0
    """Seconds an ingest or run waits for another writer before saying the warehouse is busy."""

    portal_host: str = "127.0.0.1"
    """Address ``reval portal`` listens on; loopback unless a reverse proxy needs otherwise."""

    portal_port: int = 8000

    portal_secure_cookies: bool = False
    """Mark the session cookie Secure (REVAL_PORTAL_SECURE_COOKIES=true behind TLS), so
    browsers never send it over plain HTTP."""

    portal_session_hours: float = 8.0
    """A sign-in lasts this long, then the token must be given again."""

    portal_login_attempts: int = 5
    """Failed sign-ins one client may make within ``portal_login_window`` seconds."""

    portal_login_window: float = 300.0

    portal_busy_seconds: float = 4.0
    """How long a portal page waits for another process's job (the nightly run) to free
    the warehouse before saying "busy, try again in a minute"."""

    portal_ingest_workers: int = 2
    """Uploads checked at once; more wait their turn (the warehouse has one writer anyway,
    and this keeps memory bounded when many sites upload together)."""

    portal_forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed (comma list)."""

    @cached_property
    def portal_dir(self) -> Path:
        """Portal state: hashed access tokens, the audit log, the cookie-signing secret,
        uploads being received."""
        return self.home / "portal"

    @cached_property
    def prefect_home(self) -> Path:
        """Prefect's own folder for this workspace (its local server's database, settings):
        kept between runs, so the local server does not build its database again, and
        separate per workspace, so two workspaces never share run history."""
        return self.home / "prefect"

    @cached_property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @cached_property
    def archive_dir(self) -> Path:
        """Raw uploads, byte for byte, content-addressed by SHA-256."""
        return self.home / "archive"

    @cached_property
    def inbox_dir(self) -> Path:
        return self.home / "inbox"

    @cached_property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    def workspace_dirs(self) -> tuple[Path, ...]:
        return (self.home, self.archive_dir, self.inbox_dir, self.reports_dir)


def load_settings() -> Settings:
    """Settings from the environment, with Prefect's offline defaults applied and Prefect's
    home inside the workspace (unless PREFECT_HOME is set); call it before Prefect is
    imported, as the CLI does."""
    apply_prefect_offline_defaults()
    private_files()
    settings = Settings()
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    return settings


PRIVATE_UMASK: Final[int] = 0o077


def private_files() -> None:
    """Make every file and folder this process creates from now on readable by its owner
    only (0600 / 0700), whatever umask it was started with: the workspace holds
    participants' answers. Bits the existing umask already clears stay cleared. Called at
    every entry point that writes (CLI, flows, portal, ingest, warehouse), so the
    subprocesses that render reports inherit it too."""
    current = os.umask(PRIVATE_UMASK)
    os.umask(current | PRIVATE_UMASK)


def apply_prefect_offline_defaults() -> None:
    for name, value in PREFECT_OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
