"""Prefect's local API server, started so that a small, busy machine still runs.

Prefect starts a temporary server when no ``PREFECT_API_URL`` is set and gives it
``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` to answer (Prefect's default, 20 s,
is too short on two busy cores: Prefect issue 16397). reval starts the same server itself,
before the flow, with a longer limit (``reval.config.PREFECT_OFFLINE_DEFAULTS``) and one
retry, and turns a failure into one paragraph a person can act on. It launches the
server's process directly (the uvicorn command Prefect's own launcher runs) without
importing Prefect's server package in its own process: that import took 5 s of the
command's start, holding the interpreter while the command imported the flow.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Protocol

from reval.config import cache_dir
from reval.errors import RevalError

STARTUP_TIMEOUT_VARIABLE = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
ADDRESS_IN_USE = 3  # uvicorn's exit code when its port was taken meanwhile


class LocalServerStartError(RevalError):
    """Prefect's local server did not answer in time, twice."""


class Server(Protocol):
    api_url: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


DATABASE_URL_VARIABLES = (
    "PREFECT_SERVER_DATABASE_CONNECTION_URL",
    "PREFECT_API_DATABASE_CONNECTION_URL",
)


def _database_file() -> Path | None:
    """The SQLite file Prefect's server will open: ``prefect.db`` in ``PREFECT_HOME`` (the
    workspace's), or None when a database is configured by URL (reval leaves that alone)."""
    if any(os.environ.get(name) for name in DATABASE_URL_VARIABLES):
        return None
    home = os.environ.get("PREFECT_HOME")
    return (Path(home) if home else Path.home() / ".prefect") / "prefect.db"


def database_template() -> Path:
    """An empty Prefect database, migrated and set up by this Prefect version's server:
    a new workspace's server starts from a copy instead of migrating from nothing (7 of
    the 12 s it takes to answer on a new database, on two cores)."""
    from importlib.metadata import version

    return cache_dir() / f"prefect-{version('prefect')}.db"


def _start_from_template(database: Path) -> bool:
    template = database_template()
    if not template.is_file():
        return False
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        staging = database.with_name(f".{database.name}.partial")
        shutil.copyfile(template, staging)
        staging.replace(database)
    except OSError:
        return False
    return True


def _save_template(database: Path) -> None:
    """A consistent copy (SQLite's backup API, safe while the server runs) of a database
    the server has just migrated and set up, before any flow ran: the template for the
    next new workspace. Best effort: a failure only means the next one migrates too."""
    template = database_template()
    staging = template.with_name(f".{template.name}.{os.getpid()}.partial")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        with (
            closing(sqlite3.connect(database)) as source,
            closing(sqlite3.connect(staging)) as copy,
        ):
            source.backup(copy)
        staging.replace(template)
    except (OSError, sqlite3.Error):
        staging.unlink(missing_ok=True)


class ServerProcess:
    """Prefect's API server (the app Prefect's temporary server runs: no UI, ephemeral
    services) in a process of its own on a free loopback port, its database in
    ``PREFECT_HOME`` (the workspace's)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.from_template = False
        """Whether its database was new and started as a copy of the template."""
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's stderr, closed by stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _spawn(self) -> subprocess.Popen[bytes]:
        spec = importlib.util.find_spec("prefect")  # where Prefect is, without importing it
        if spec is None or spec.origin is None:
            raise RuntimeError("Prefect is not installed in this environment")
        app_dir = Path(spec.origin).parent.parent
        environment = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        environment |= {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                        "PREFECT__SERVER_FINAL": "1"}  # fmt: skip
        command = [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
                   "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port",
                   str(self.port), "--log-level", "error", "--lifespan", "on"]  # fmt: skip
        return subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL,
                                stderr=self._log)  # fmt: skip

    def start(self) -> None:
        limit = float(os.environ.get(STARTUP_TIMEOUT_VARIABLE, "20"))
        deadline = time.monotonic() + limit
        database = _database_file()
        new_database = database if database is not None and not database.exists() else None
        self.from_template = new_database is not None and _start_from_template(new_database)
        self.process = self._spawn()
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == ADDRESS_IN_USE and "address already in use" in self._log_text().lower():
                self._log.seek(0)
                self._log.truncate()  # uvicorn ends with 3 when its start-up fails, too
                self.port = _free_port()
                self.process = self._spawn()
                continue
            if code is not None:
                self._forget_template(database)
                raise RuntimeError(
                    f"the server's process ended with code {code}: {self._last_error()}"
                )
            if _answers(f"{self.api_url}/health"):
                if new_database is not None and not self.from_template:
                    _save_template(new_database)
                return
            time.sleep(0.1)
        self._forget_template(database)
        raise RuntimeError("Timed out while attempting to connect to the local Prefect API server.")

    def _forget_template(self, database: Path | None) -> None:
        """A server that did not start on a copied database may have been given a bad
        template: the copy and the template go, so the retry (and every later new
        workspace) migrates from nothing as Prefect does by itself."""
        if self.from_template and database is not None:
            self.stop_process()
            database_template().unlink(missing_ok=True)
            database.unlink(missing_ok=True)

    def _log_text(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _last_error(self) -> str:
        lines = [line for line in self._log_text().splitlines() if line.strip()]
        return lines[-1] if lines else "no message"

    def stop_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        self.stop_process()
        self._log.close()


def _api_url_in_force() -> str | None:
    if "prefect.settings" in sys.modules:  # a settings context (a test harness) may name one
        from prefect.settings import PREFECT_API_URL

        return PREFECT_API_URL.value() or None
    return os.environ.get("PREFECT_API_URL") or None


def start_local_server(attempts: int = 2, server_factory: type[Server] | None = None) -> str | None:
    """Start Prefect's local server unless ``PREFECT_API_URL`` names one; returns its API
    address (None when a server was named), put in ``PREFECT_API_URL`` for the flow. The
    server stops when the command ends."""
    if _api_url_in_force():
        return None
    reason = ""
    for _ in range(attempts):
        server = (server_factory or ServerProcess)()
        os.environ["PREFECT_API_URL"] = server.api_url  # before the command imports Prefect
        try:
            server.start()
        except Exception as error:  # a timeout, an ended process, OSError
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            server.stop()  # end the half-started process before trying again
            del os.environ["PREFECT_API_URL"]
            continue
        atexit.register(server.stop)
        os.environ["PREFECT_API_URL"] = server.api_url  # a port taken meanwhile changes it
        return server.api_url
    limit = os.environ.get(STARTUP_TIMEOUT_VARIABLE, "20")
    raise LocalServerStartError(
        f"reval could not start Prefect's local server: it did not answer within {limit} "
        f"seconds, {attempts} times (Prefect said: {reason[:300]}). The machine is probably "
        f"too busy right now. Try again when it is quieter; or give the server longer "
        f"({STARTUP_TIMEOUT_VARIABLE}={max(int(float(limit)) * 2, 120)}); or start a lasting server "
        f"once with 'prefect server start' and point reval at it with "
        f"PREFECT_API_URL=http://127.0.0.1:4200/api. Nothing was loaded or evaluated."
    )


class LocalServerStart:
    """Prefect's local server starting on a background thread, so that it boots on one core
    while the command imports pandas, Prefect and the models on the other; ``wait()``
    returns its address or raises :class:`LocalServerStartError`."""

    def __init__(self, attempts: int = 2) -> None:
        self._address: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, args=(attempts,), daemon=True)
        self._thread.start()

    def _start(self, attempts: int) -> None:
        try:
            self._address = start_local_server(attempts)
        except BaseException as error:  # handed to the caller's thread by wait()
            self._error = error

    def wait(self) -> str | None:
        """The server's address once it answers; Prefect, if the command imported it
        meanwhile, is told the address it ended on."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._address is not None and "prefect.context" in sys.modules:
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()
        return self._address
