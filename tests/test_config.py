"""Settings come from the environment with safe defaults; Prefect stays offline."""

from __future__ import annotations

import os
from pathlib import Path

from reval.config import PREFECT_OFFLINE_DEFAULTS, Settings, load_settings


def test_home_defaults_to_dot_reval_in_the_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("REVAL_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.home == tmp_path / ".reval"
    assert settings.warehouse_path == tmp_path / ".reval" / "warehouse.duckdb"
    assert settings.archive_dir == tmp_path / ".reval" / "archive"


def test_environment_overrides_paths_and_limits(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REVAL_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("REVAL_MAX_UPLOAD_BYTES", "1024")
    settings = load_settings()
    assert settings.home == Path(tmp_path / "elsewhere")
    assert settings.max_upload_bytes == 1024


def test_prefect_analytics_are_off_unless_explicitly_enabled(monkeypatch) -> None:
    for name in PREFECT_OFFLINE_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DO_NOT_TRACK", "0")  # an explicit choice is respected
    load_settings()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["DO_NOT_TRACK"] == "0"
