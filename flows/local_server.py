"""Prefect's local (ephemeral) API server, started so that a small, busy machine still runs.

Prefect starts a temporary server when no ``PREFECT_API_URL`` is set and gives it
``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` to answer (Prefect's default, 20 s,
is too short on two busy cores: Prefect issue 16397). reval starts it itself, before the
flow, with a longer limit (``reval.config.PREFECT_OFFLINE_DEFAULTS``) and one retry, and
turns a failure into one paragraph a person can act on.
"""

from __future__ import annotations

import os
import threading

from reval.errors import RevalError

STARTUP_TIMEOUT_VARIABLE = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


class LocalServerStartError(RevalError):
    """Prefect's local server did not answer in time, twice."""


def start_local_server(attempts: int = 2) -> str | None:
    """Start Prefect's temporary server unless ``PREFECT_API_URL`` names one; returns its
    API address (None when a server was named). Prefect's own client then reuses it."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return None
    reason = ""
    for _ in range(attempts):
        server = SubprocessASGIServer()
        try:
            server.start()
        except Exception as error:  # Prefect raises RuntimeError, httpx errors, OSError
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            server.stop()  # end the half-started process before trying again
            continue
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
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._address
