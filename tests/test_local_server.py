"""Prefect's local server: started with a limit fit for small machines, retried once, and
explained in one paragraph when it still does not answer (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.local_server import LocalServerStartError, start_local_server
from reval.config import PREFECT_OFFLINE_DEFAULTS
from reval.errors import RevalError


class _Server:
    """Stands in for the server's process: answers on the attempts listed."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.starts = 0
        self.stops = 0

    def start(self) -> None:
        self.starts += 1
        if not self.answers[self.starts - 1]:
            raise RuntimeError(
                "Timed out while attempting to connect to ephemeral Prefect API server.\nstdout: ..."
            )

    def stop(self) -> None:
        self.stops += 1

    api_url = "http://127.0.0.1:8123/api"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    """Installs the stand-in, with no API URL in force (the session's Prefect test harness,
    when another test started it, sets one)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import flows.local_server

    def install(answers: list[bool]) -> _Server:
        fake = _Server(answers)
        monkeypatch.setattr(flows.local_server, "ServerProcess", lambda: fake)
        monkeypatch.setenv("PREFECT_API_URL", "")  # recorded, so what the test sets is undone
        monkeypatch.delenv("PREFECT_API_URL")
        return fake

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield install


def test_a_server_that_never_answers_is_tried_twice_then_explained(server) -> None:
    fake = server([False, False])
    with pytest.raises(LocalServerStartError) as caught:
        start_local_server()
    assert (fake.starts, fake.stops) == (2, 2)  # each half-started process is ended
    message = str(caught.value)
    assert isinstance(caught.value, RevalError)
    assert "\n" not in message  # one paragraph: Prefect's multi-line dump is cut to its first line
    assert "did not answer" in message
    assert "2 times" in message
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in message
    assert "PREFECT_API_URL" in message  # and the lasting alternative


def test_a_second_attempt_that_answers_is_used(server) -> None:
    fake = server([False, True])
    assert start_local_server() == fake.api_url
    assert (fake.starts, fake.stops) == (2, 1)
    assert os.environ["PREFECT_API_URL"] == fake.api_url  # what the flow's client then uses


def test_the_real_server_answers_stops_and_leaves_a_template_for_the_next_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's own process, launched without importing Prefect's server package here:
    it answers on its health route, keeps its database in PREFECT_HOME, and ends on stop.
    The first one on a new database leaves a copy of it, migrated and set up but before
    any flow ran, in reval's cache; the next new workspace's server starts from that copy
    (Prefect's migrations are most of a new database's 12 s) and answers."""
    import sqlite3

    from flows.local_server import ServerProcess, _answers, database_template

    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    monkeypatch.setenv("REVAL_CACHE_DIR", str(tmp_path / "cache"))
    servers = []
    for night in ("first", "second"):
        monkeypatch.setenv("PREFECT_HOME", str(tmp_path / f"prefect-{night}"))
        servers.append(ServerProcess())
        try:
            servers[-1].start()
            assert _answers(f"{servers[-1].api_url}/health")
            assert (tmp_path / f"prefect-{night}" / "prefect.db").is_file()
        finally:
            servers[-1].stop()
        assert servers[-1].process is not None
        assert servers[-1].process.poll() is not None
        assert not _answers(f"{servers[-1].api_url}/health")
    assert [s.from_template for s in servers] == [False, True]
    template = database_template()
    assert template.parent == tmp_path / "cache"
    with sqlite3.connect(template) as copy:
        assert copy.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        assert copy.execute("SELECT count(*) FROM flow_run").fetchone() == (0,)


def test_a_template_that_does_not_start_is_dropped_and_a_configured_database_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged template must not stop every later workspace: the server that could not
    start on it drops it and the copy, so the retry migrates from nothing."""
    from flows import local_server

    monkeypatch.setenv("REVAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "1")
    template = local_server.database_template()
    template.parent.mkdir(parents=True)
    template.write_bytes(b"not a database")
    monkeypatch.setattr(local_server, "_answers", lambda url: False)  # it never answers
    server = local_server.ServerProcess()
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    assert server.from_template
    assert not template.exists()
    assert not (tmp_path / "prefect" / "prefect.db").exists()
    monkeypatch.setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", "postgresql+asyncpg://db/prefect")
    assert local_server._database_file() is None  # a database by URL: no file to start from


def test_a_named_server_is_used_as_it_is(server) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    fake = server([True])
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        assert start_local_server() is None
    assert fake.starts == 0


def test_the_start_up_limit_is_fit_for_small_machines_and_overridable() -> None:
    assert int(PREFECT_OFFLINE_DEFAULTS["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]) >= 60
    env = {**os.environ, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "33"}
    code = (
        "from reval.config import load_settings; load_settings();"
        "from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as t;"
        "print(t.value())"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "33", out.stderr


def test_reval_run_says_what_failed_in_plain_words(tmp_path: Path) -> None:
    """A limit of 0 s makes every start fail at once: the command ends with the paragraph
    and exit code 1, never a traceback, and loads nothing."""
    env = {
        **os.environ,
        "REVAL_HOME": str(tmp_path / "workspace"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0",
    }
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_HOME", None)
    done = subprocess.run(
        [sys.executable, "-m", "reval.cli", "run"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "reval could not start Prefect's local server" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "workspace" / "warehouse.duckdb").exists()


def test_a_taken_port_is_tried_again_but_a_failed_start_up_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn ends with code 3 both when its port was taken meanwhile (try another port)
    and when the application failed to start (say so at once): before, a failed start-up
    was taken for a taken port and respawned until the 180 s limit ran out."""
    import subprocess
    import sys

    from flows.local_server import ServerProcess

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("REVAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "600")
    said = iter([
        "ERROR: [Errno 98] error while attempting to bind on address: address already in use",
        "ERROR: Application startup failed. Exiting.",
    ])  # fmt: skip
    spawned = []

    def spawn(self: ServerProcess) -> subprocess.Popen[bytes]:
        spawned.append(self.port)
        line = next(said)
        return subprocess.Popen([sys.executable, "-c", f"import sys; print({line!r}, file=sys.stderr); sys.exit(3)"],
                                stderr=self._log)  # fmt: skip

    monkeypatch.setattr(ServerProcess, "_spawn", spawn)
    server = ServerProcess()
    with pytest.raises(RuntimeError, match="ended with code 3: ERROR: Application startup failed"):
        server.start()
    server.stop()
    assert len(spawned) == 2  # one more port after the taken one, then the failure said
