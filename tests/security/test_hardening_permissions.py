"""Issue 17, private by default: with umask 022 the warehouse, reports, archive folders
and raw uploads were 0644/0755, readable by any local user. Now the workspace is made
0700 and everything reval writes in it is 0600 (files) or 0700 (folders)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reval.config import SAMPLE_DATA_DIR, Settings
from reval.pipeline import ingest_file, ingest_inbox_file, init_workspace, publish_latest
from reval.portal import create_app
from reval.portal.access import TokenStore

SITE = "gm_cancer"


@pytest.fixture
def umask_022() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_everything_reval_writes_is_owner_only_whatever_the_umask(
    umask_022: None, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "workspace")
    init_workspace(settings)
    assert stat.S_IMODE(settings.home.stat().st_mode) == 0o700
    sites = tmp_path / "sites.csv"
    sites.write_text("site_id,site_name,care_model,region,start_date\n"
                     f"{SITE},GM Cancer,Test model,North West,2016-04-01\n")  # fmt: skip
    assert ingest_file(settings, sites).status == "loaded"
    assert ingest_file(settings, SAMPLE_DATA_DIR / "paradigm_statements.csv").status == "loaded"
    # the portal: an upload with a problem, its fix-up workbook, a template
    token = TokenStore(settings.portal_dir / "tokens.json").create("site", site_id=SITE)
    bad = b"site_id,event_date,event_type,phase,description\ngm_cancer,31/02/2017,x,y,z\n"
    with TestClient(create_app(settings), follow_redirects=False) as client:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)[1]  # type: ignore[index]
        assert client.post("/login", data={"token": token, "csrf_token": csrf}).status_code == 303
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)[1]  # type: ignore[index]
        response = client.post("/upload", data={"csrf_token": csrf},
                               files={"file": ("events.csv", bad, "text/csv")})  # fmt: skip
        ingest_id = re.search(r"upload ([0-9a-f]{32})", response.text)[1]  # type: ignore[index]
        assert client.get(f"/uploads/{ingest_id}/fixes.xlsx").status_code == 200
        assert client.get("/templates/events.xlsx").status_code == 200
    # the nightly inbox: a file its sender left world-readable
    os.umask(0o022)  # as if another program ran in between
    dropped = settings.inbox_dir / "events.csv"
    dropped.write_bytes(bad)
    dropped.chmod(0o644)
    ingest_inbox_file(settings, dropped)
    # published reports
    rendered = tmp_path / "programme.html"
    rendered.write_text("<h1>report</h1>")
    publish_latest(settings, {"programme.html": rendered})
    loose = []
    for path in [settings.home, *settings.home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            loose.append(f"{oct(mode)} {path.relative_to(settings.home)}")
    assert loose == []
    kinds = {p.relative_to(settings.home).parts[0] for p in settings.home.rglob("*") if p.is_file()}
    assert {"archive", "inbox", "portal", "reports", "warehouse.duckdb"} <= kinds
