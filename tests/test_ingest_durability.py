"""An ingest is all or nothing: killed mid-file it leaves the warehouse as it was, and
two at once are serialised rather than lost or corrupted."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import pytest

from reval.config import SAMPLE_DATA_DIR, Settings
from reval.pipeline import ingest_file
from reval.warehouse import Warehouse, WarehouseBusyError

WORKBOOKS = SAMPLE_DATA_DIR / "workbooks"


def _rows(programme, site: str, table: str) -> int:
    frame = programme.tables[table]
    return int((frame["site_id"] == site).sum())


def _counts(settings: Settings) -> dict[str, int]:
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        tables = [r[0] for r in warehouse.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()]  # fmt: skip
        return {t: warehouse.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


@pytest.fixture
def base(settings: Settings) -> Settings:
    assert ingest_file(settings, SAMPLE_DATA_DIR / "paradigm_statements.csv").status == "loaded"
    assert ingest_file(settings, WORKBOOKS / "gm_cancer.xlsx").status == "loaded"
    return settings


KILL_AFTER_FIRST_TABLE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from reval import warehouse
    from reval.config import Settings
    from reval.pipeline import ingest_file

    original = warehouse.Warehouse.load_rows
    loaded = []

    def load_then_die(self, table, rows, **kwargs):
        loaded.append(original(self, table, rows, **kwargs))
        if len(loaded) == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no rollback: a real crash
        return loaded[-1]

    warehouse.Warehouse.load_rows = load_then_die
    ingest_file(Settings(home=Path(sys.argv[1])), Path(sys.argv[2]))
    """
)


@pytest.mark.parametrize("tables_loaded_before_crash", [1, 3])
def test_killed_mid_file_leaves_the_warehouse_as_it_was(
    base, programme, tables_loaded_before_crash
) -> None:
    before = _counts(base)
    with Warehouse(base.warehouse_path, read_only=True) as warehouse:
        sites_before = warehouse.current("sites")
    crashed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_FIRST_TABLE, str(base.home),
         str(WORKBOOKS / "morecambe_bay.xlsx"), str(tables_loaded_before_crash)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert crashed.returncode == -9, crashed.stderr
    assert _counts(base) == before
    # the raw file was archived before anything else happened, so the upload is not lost
    sha = hashlib.sha256((WORKBOOKS / "morecambe_bay.xlsx").read_bytes()).hexdigest()
    assert (base.archive_dir / sha[:2] / f"{sha}.xlsx").is_file()
    with Warehouse(base.warehouse_path, read_only=True) as warehouse:
        assert warehouse.current("sites").equals(sites_before)
    # the lock died with the process, and the file loads normally afterwards
    report = ingest_file(base, WORKBOOKS / "morecambe_bay.xlsx")
    assert report.status == "loaded"
    expected = _rows(programme, "morecambe_bay", "survey_responses")
    assert _counts(base)["survey_responses"] == before["survey_responses"] + expected


def test_two_ingests_at_once_both_land_exactly_once(base, programme) -> None:
    script = "import sys; from pathlib import Path; from reval.config import Settings; " \
             "from reval.pipeline import ingest_file; " \
             "print(ingest_file(Settings(home=Path(sys.argv[1])), Path(sys.argv[2])).status)"  # fmt: skip
    before = _counts(base)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(base.home), str(WORKBOOKS / name)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("morecambe_bay.xlsx", "stockport_together.xlsx")
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [out.strip() for out, _ in outputs] == ["loaded", "loaded"], outputs
    after = _counts(base)
    for table in ("survey_responses", "comparison_records"):
        expected = sum(
            _rows(programme, site, table) for site in ("morecambe_bay", "stockport_together")
        )
        assert after[table] - before[table] == expected
    assert after["ingests"] - before["ingests"] == 2


def test_a_busy_warehouse_says_so_within_the_timeout(base, tmp_path) -> None:
    impatient = Settings(home=base.home, writer_lock_timeout=0.3)
    path = tmp_path / "events.csv"
    path.write_text("site_id,event_date,event_type,phase,description\n"
                    "gm_cancer,2016-07-01,launch,emergence,x\n", encoding="utf-8")  # fmt: skip
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from reval.warehouse import Warehouse; w = Warehouse(Path(sys.argv[1])); "
         "print('holding', flush=True); time.sleep(30)", str(base.warehouse_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(WarehouseBusyError, match="busy with another upload or run"):
            ingest_file(impatient, path)
    finally:
        holder.kill()
        holder.wait()
    assert ingest_file(impatient, path).status == "loaded"
