from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reval.config import SAMPLE_DATA_DIR, Settings, apply_prefect_offline_defaults
from reval.synthetic_programme import SyntheticProgramme, synthetic_programme

apply_prefect_offline_defaults()  # before any test imports Prefect: no analytics, no telemetry


@pytest.fixture(scope="session")
def programme() -> SyntheticProgramme:
    """The sample programme, generated in memory from the default seed."""
    return synthetic_programme()


@pytest.fixture(scope="session")
def statements() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DATA_DIR / "paradigm_statements.csv")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "workspace")


@pytest.fixture(scope="session")
def harness():
    """One temporary Prefect server for every flow test in the session (it takes seconds
    to start); imported lazily so tests that never run a flow never start it."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
