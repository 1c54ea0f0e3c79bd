"""Issue 17, damage and busy states: a damaged warehouse gave a raw DuckDB ``IOException``
to every command, and a busy one a traceback in the CLI and a 120 s hang in the portal.

Now ``reval check`` reads every table in full (DuckDB verifies each block's checksum)
and says in plain words what is damaged; every command says the same in one line;
``reval rebuild`` replays the archive in the order the files arrived into a new
warehouse and compares counts; busy is one line naming the holder and how long it has
held the lock, and portal pages say "busy, try again in a minute" within 5 s.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from reval.config import SAMPLE_DATA_DIR, Settings
from reval.pipeline import check_workspace, ingest_file, init_workspace, rebuild_warehouse
from reval.portal import create_app
from reval.portal.access import TokenStore
from reval.warehouse import Warehouse, WarehouseDamagedError

SITE = "gm_cancer"
EVENTS = "site_id,event_date,event_type,phase,description\n"


def events(description: str) -> str:
    return EVENTS + f"{SITE},2017-03-01,launch,emergence,{description}\n"


@pytest.fixture
def loaded(settings: Settings, tmp_path: Path) -> Settings:
    """A workspace with the catalogue, a site workbook and an event corrected by a later
    upload (so the order of replay matters)."""
    init_workspace(settings)
    assert ingest_file(settings, SAMPLE_DATA_DIR / "paradigm_statements.csv").status == "loaded"
    assert ingest_file(settings, SAMPLE_DATA_DIR / "workbooks" / f"{SITE}.xlsx").status == "loaded"
    for i, text in enumerate(("first telling", "corrected telling")):
        path = tmp_path / f"events-{i}.csv"
        path.write_text(events(text), encoding="utf-8")
        assert ingest_file(settings, path, site_id=SITE).status == "loaded"
    return settings


def damage_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))


def damage_blocks(path: Path) -> None:
    """Random bytes inside the data blocks, past DuckDB's three 4 KiB headers."""
    data = bytearray(path.read_bytes())
    rng = random.Random(7)
    for offset in range(12288 + 262144, len(data), 2 * 262144):
        data[offset + 100 : offset + 2000] = rng.randbytes(1900)
    path.write_bytes(bytes(data))


def run(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(__import__("reval.cli").cli.app, list(args),
                                env={"REVAL_HOME": str(home), "REVAL_WRITER_LOCK_TIMEOUT": "1"})  # fmt: skip
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), (
        args,
        repr(result.exception),
    )
    return result.exit_code, result.output


def test_every_command_says_plainly_that_a_damaged_header_is_damaged(
    loaded: Settings, tmp_path: Path
) -> None:
    damage_header(loaded.warehouse_path)
    csv = tmp_path / "events.csv"
    csv.write_text(events("after the damage"), encoding="utf-8")
    for args in (["check"], ["init"], ["ingest", str(csv)], ["validate", str(csv)],
                 ["results"], ["evaluate"], ["report", "--format", "html"],
                 ["rejected", "0" * 32]):  # fmt: skip
        code, output = run(loaded.home, *args)
        assert code in {1, 2}, (args, output)  # 'rejected' keeps its own exit code for errors
        assert "Traceback" not in output
        assert "IOException" not in output
        assert "is damaged (its header is not that of a DuckDB database)" in output, args
        assert "reval rebuild" in output


def test_check_reads_every_block_and_names_the_damaged_table(loaded: Settings) -> None:
    code, output = run(loaded.home, "check")
    assert code == 0
    assert "checksums verified" in output
    assert "all 4 archived uploads present" in output
    copy = loaded.home.parent / "copy"
    shutil.copytree(loaded.home, copy)
    damage_blocks(copy / "warehouse.duckdb")
    code, output = run(copy, "check")
    assert code == 1
    assert re.search(r"table \w+ cannot be read: a block of it failed its checksum", output)
    with pytest.raises(WarehouseDamagedError):
        check_workspace(Settings(home=copy))


def test_rebuild_replays_the_archive_in_order_and_the_counts_match(loaded: Settings) -> None:
    with Warehouse(loaded.warehouse_path, read_only=True) as warehouse:
        before = warehouse.row_counts()
        story = warehouse.current("events", SITE)
    assert "corrected telling" in set(story["description"])
    damage_header(loaded.warehouse_path)
    done = rebuild_warehouse(loaded)
    assert done.replayed == 4
    assert done.missing == []
    assert done.before is None  # the damaged one could not be read
    assert done.after == before
    assert done.kept_as is not None
    assert done.kept_as.read_bytes()[:4096] == b"\xff" * 4096
    with Warehouse(loaded.warehouse_path, read_only=True) as warehouse:
        assert warehouse.row_counts() == before
        replayed = warehouse.current("events", SITE)
        ingests = warehouse.ingests()
    assert "corrected telling" in set(replayed["description"])  # the later upload won again
    assert "first telling" not in set(replayed["description"])
    assert ingests["site_id"].tolist()[-2:] == [SITE, SITE]
    code, output = run(loaded.home, "check")
    assert code == 0, output


def test_rebuild_from_the_cli_compares_counts(loaded: Settings) -> None:
    code, output = run(loaded.home, "rebuild")
    assert code == 0, output
    assert "Rebuilt the warehouse from 4 archived upload(s)" in output
    assert "differs" not in output
    assert re.search(r"events\s+before\s+\d+\s+after\s+\d+", output)


def test_a_workspace_made_before_the_manifest_rebuilds_from_the_warehouse_record(
    loaded: Settings, tmp_path: Path
) -> None:
    """Before the manifest the warehouse alone recorded each upload; the first upload since
    starts a manifest listing only itself. Rebuild replays the older uploads first, in the
    order the warehouse recorded them, then the listed ones - and again after that."""
    (loaded.archive_dir / "manifest.jsonl").unlink()
    latest = tmp_path / "events-latest.csv"
    latest.write_text(events("latest telling"), encoding="utf-8")
    assert ingest_file(loaded, latest, site_id=SITE).status == "loaded"
    with Warehouse(loaded.warehouse_path, read_only=True) as warehouse:
        before = warehouse.row_counts()
    code, output = run(loaded.home, "check")  # nothing damaged, but said: only the
    assert code == 0, output  # warehouse knows the order of the four older uploads
    assert "Archive list: 4 archived upload(s) from before reval kept" in output
    assert "Run 'reval rebuild' while the warehouse can be read" in output
    for _ in range(2):  # the rebuilt warehouse records the old uploads in the same order
        done = rebuild_warehouse(loaded)
        assert (done.replayed, done.missing, done.after) == (5, [], before)
        with Warehouse(loaded.warehouse_path, read_only=True) as warehouse:
            told = set(warehouse.current("events", SITE)["description"])
        assert "latest telling" in told
        assert not told & {"first telling", "corrected telling"}
    # the rebuild listed them (oldest first): check is quiet, and the list alone now
    # rebuilds the warehouse even when it cannot be read at all
    listed = [json.loads(line) for line in
              (loaded.archive_dir / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]  # fmt: skip
    assert len(listed) == 5
    assert listed[-1]["file"] == "events-latest.csv"
    assert all(not Path(entry["archive"]).is_absolute() for entry in listed)
    code, output = run(loaded.home, "check")
    assert code == 0, output
    assert "Archive list" not in output
    damage_header(loaded.warehouse_path)
    done = rebuild_warehouse(loaded)
    assert (done.replayed, done.missing, done.before, done.after) == (5, [], None, before)


def test_without_the_manifest_or_a_readable_warehouse_rebuild_says_why_and_changes_nothing(
    loaded: Settings,
) -> None:
    (loaded.archive_dir / "manifest.jsonl").unlink()
    damage_header(loaded.warehouse_path)
    damaged = loaded.warehouse_path.read_bytes()
    files = sorted(loaded.home.rglob("*"))
    code, output = run(loaded.home, "rebuild")
    assert code == 1
    assert len(output.strip().splitlines()) == 1, output  # one paragraph
    assert "started before reval listed every upload" in output
    assert "4 archived file(s)" in output
    assert "Nothing was changed. Restore warehouse.duckdb from a backup" in output
    assert "Traceback" not in output
    assert loaded.warehouse_path.read_bytes() == damaged
    assert sorted(loaded.home.rglob("*")) == files


@pytest.fixture
def held(loaded: Settings) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the warehouse, as a nightly run does."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from reval.warehouse import Warehouse; w = Warehouse(Path(sys.argv[1])); "
         "print('holding', flush=True); time.sleep(60)", str(loaded.warehouse_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        time.sleep(1.1)
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_busy_is_one_line_naming_the_holder_and_how_long(
    loaded: Settings, held: subprocess.Popen[str], tmp_path: Path
) -> None:
    csv = tmp_path / "events.csv"
    csv.write_text(events("while busy"), encoding="utf-8")
    code, output = run(loaded.home, "ingest", str(csv))
    assert code == 1
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "busy" in lines[0]
    assert f"(process {held.pid}) has held it for " in lines[0]
    assert re.search(r"has held it for \d+ s", lines[0])
    assert "try again in a minute" in lines[0]


def test_portal_pages_say_busy_within_five_seconds(
    loaded: Settings, held: subprocess.Popen[str]
) -> None:
    token = TokenStore(loaded.portal_dir / "tokens.json").create("site", site_id=SITE)
    with TestClient(create_app(loaded), follow_redirects=False) as client:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)[1]  # type: ignore[index]
        assert client.post("/login", data={"token": token, "csrf_token": csrf}).status_code == 303
        started = time.monotonic()
        home = client.get("/")  # the upload history reads the warehouse
        assert time.monotonic() - started < 5
        assert home.status_code == 503
        assert "busy, try again in a minute" in home.text
        # a page that does not need the warehouse still works, and carries the form token
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/reports").text)[1]  # type: ignore[index]
        started = time.monotonic()
        upload = client.post("/upload", data={"csrf_token": csrf},
                             files={"file": ("events.csv", events("busy").encode(), "text/csv")})  # fmt: skip
        assert time.monotonic() - started < 5
        assert upload.status_code == 503
        assert "busy, try again in a minute" in upload.text
