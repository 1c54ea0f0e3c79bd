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
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Protocol

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


class ServerProcess:
    """Prefect's API server (the app Prefect's temporary server runs: no UI, ephemeral
    services) in a process of its own on a free loopback port, its database in
    ``PREFECT_HOME`` (the workspace's)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
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
        self.process = self._spawn()
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == ADDRESS_IN_USE:
                self.port = _free_port()
                self.process = self._spawn()
                continue
            if code is not None:
                raise RuntimeError(
                    f"the server's process ended with code {code}: {self._last_error()}"
                )
            if _answers(f"{self.api_url}/health"):
                return
            time.sleep(0.1)
        raise RuntimeError("Timed out while attempting to connect to the local Prefect API server.")

    def _last_error(self) -> str:
        self._log.seek(0)
        lines = [
            line for line in self._log.read().decode(errors="replace").splitlines() if line.strip()
        ]
        return lines[-1] if lines else "no message"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
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
