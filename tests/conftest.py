from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from reval.config import SAMPLE_DATA_DIR, Settings, apply_prefect_offline_defaults
from reval.synthetic_programme import SyntheticProgramme, synthetic_programme

apply_prefect_offline_defaults()  # before any test imports Prefect: no analytics, no telemetry
# Prefect's own folder for this test process, never the developer's ~/.prefect (nor the
# workspace folder reval's load_settings would pick from the working directory).
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="reval-tests-prefect-"))


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


@pytest.fixture
def two_sites(settings: Settings, tmp_path: Path) -> Settings:
    """A workspace that knows two sites (stockport_together, gm_cancer) and the sample
    paradigm catalogue: enough for one site's uploads to load and be checked against both."""
    from reval.pipeline import ingest_file

    sites = tmp_path / "sites.csv"
    sites.write_text(
        "site_id,site_name,care_model,region,start_date\n"
        "stockport_together,Stockport Together,Multispecialty community provider,North West,"
        "2016-05-01\n"
        "gm_cancer,Greater Manchester Cancer Vanguard,Cancer prevention,North West,01/07/2016\n",
        encoding="utf-8",
    )
    assert ingest_file(settings, sites).status == "loaded"
    assert ingest_file(settings, SAMPLE_DATA_DIR / "paradigm_statements.csv").status == "loaded"
    return settings


@pytest.fixture(scope="session", autouse=True)
def reval_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """reval's cache (the Prefect database template) for this test run: in pytest's base
    temporary folder, shared by the xdist workers and the commands tests start, and
    removed with it as pytest rotates them; never the user's ~/.cache/reval."""
    session = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session = session.parent  # each worker's folder sits inside the session's
    os.environ["REVAL_CACHE_DIR"] = str(session / "reval-cache")
    return session / "reval-cache"


@pytest.fixture(scope="session")
def harness(reval_cache: Path):
    """One Prefect server for every flow test of this worker: reval's own local server (the
    one `reval run` starts), its database in this process's PREFECT_HOME, started as a copy
    of the test run's template (Prefect's own test harness migrates a new database each
    time: seconds of a busy machine). Started lazily: tests that never run a flow never
    start it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.local_server import ServerProcess

    server = ServerProcess()
    server.start()
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield
    finally:
        server.stop()


WorkspaceCopy = Callable[[Path], tuple[Settings, str]]


def _shared_workspace(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Settings], str]
) -> WorkspaceCopy:
    """A workspace built once for the whole test session and shared by every pytest-xdist
    worker through a file lock. Returns a function that copies it to a folder of the
    test's own and gives its settings and the text ``build`` returned (a run id): nobody
    writes to the shared original."""
    import shutil

    from filelock import FileLock

    session = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session = session.parent  # each worker's folder sits inside the session's
    original, ready = session / name, session / f"{name}.ready"
    with FileLock(str(session / f"{name}.lock")):
        if not ready.exists():
            ready.write_text(build(Settings(home=original)), encoding="utf-8")
    made = ready.read_text(encoding="utf-8")

    def copy_to(folder: Path) -> tuple[Settings, str]:
        shutil.copytree(original, folder, ignore=shutil.ignore_patterns("*.lock"))
        return Settings(home=folder), made

    return copy_to


@pytest.fixture(scope="session")
def loaded_sample(tmp_path_factory: pytest.TempPathFactory) -> WorkspaceCopy:
    """The sample programme's files loaded into a workspace, not yet evaluated (a few
    seconds saved wherever a test needs the loaded warehouse to evaluate its own way)."""
    from reval.pipeline import load_sample_data

    def build(settings: Settings) -> str:
        load_sample_data(settings)
        return ""

    return _shared_workspace(tmp_path_factory, "loaded-sample", build)


@pytest.fixture(scope="session")
def evaluated_sample(
    tmp_path_factory: pytest.TempPathFactory, loaded_sample: WorkspaceCopy
) -> WorkspaceCopy:
    """The sample programme loaded and evaluated once for the whole test session; returns
    a function copying it to the test's own folder -> (settings, run id)."""
    from reval.pipeline import evaluate

    def build(settings: Settings) -> str:
        loaded_sample(settings.home)
        return evaluate(settings)[0]

    return _shared_workspace(tmp_path_factory, "evaluated-sample", build)


RENDERED_SITE = "wellbeing_erewash"  # three waves: the richest site


@pytest.fixture(scope="session")
def rendered_sample(
    tmp_path_factory: pytest.TempPathFactory, evaluated_sample: WorkspaceCopy
) -> WorkspaceCopy:
    """The evaluated sample with the programme report and RENDERED_SITE's site and
    participant reports rendered (HTML and PDF) once per session, in reports/<run id>/;
    the copy function gives (settings, run id)."""
    from reval.pipeline import render_reports

    def build(settings: Settings) -> str:
        settings, run_id = evaluated_sample(settings.home)
        rendered = render_reports(settings, run_id, site_id=RENDERED_SITE)
        assert not rendered.failed, rendered.failed
        return run_id

    return _shared_workspace(tmp_path_factory, "rendered-sample", build)
