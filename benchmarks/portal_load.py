"""Load test of the upload portal: 50 uploads from 10 sites at once, over loopback HTTP.

The real server (``reval portal``: uvicorn, one process) runs in its own process; this
process signs each site in once and then sends all 50 uploads together, timing each
request from send to complete answer. Correctness is checked afterwards: every file
archived byte for byte, every file recorded once as loaded, every row in the warehouse
exactly once. The peer, measured in the same run, is the same 50 files through
``ingest_file`` called directly, one after another, in a fresh workspace: the ratio is
what the portal (HTTP, sessions, streaming to disk, queueing) adds.

The sample programme has six sites; four more are registered by a ``sites`` upload and
given survey rows copied from sample sites under new ids, so ten sites upload.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd

from reval.config import SAMPLE_DATA_DIR, Settings
from reval.pipeline import ingest_file, init_workspace
from reval.portal.access import TokenStore
from reval.synthetic_programme import synthetic_programme
from reval.warehouse import Warehouse

UPLOADS_PER_SITE = 5
EXTRA_SITES = ("leeds_connect", "bristol_together", "cornwall_circles", "tees_valley_voices")


@dataclass(frozen=True)
class Upload:
    site: str
    path: Path
    response_ids: tuple[str, ...]


def prepare(work: Path) -> tuple[Path, list[Upload]]:
    """The sites file (6 sample + 4 extra sites) and 50 survey workbooks, 5 per site."""
    files = work / "files"
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir(parents=True)
    programme = synthetic_programme()
    sites = programme.tables["sites"]
    sample_sites = list(sites["site_id"])
    extra = sites.head(len(EXTRA_SITES)).copy()
    extra["site_id"] = list(EXTRA_SITES)
    extra["site_name"] = [s.replace("_", " ").title() for s in EXTRA_SITES]
    sites_csv = files / "sites.csv"
    pd.concat([sites, extra]).to_csv(sites_csv, index=False)
    survey = programme.tables["survey_responses"]
    uploads = []
    for index, site in enumerate(sample_sites + list(EXTRA_SITES)):
        source = sample_sites[index % len(sample_sites)]
        rows = survey[survey["site_id"] == source].copy()
        if site != source:  # the same answers under the new site's own ids
            rows["site_id"] = site
            rows["response_id"] = f"{site[:6]}-" + rows["response_id"].astype(str)
            rows["respondent_id"] = f"{site[:6]}-" + rows["respondent_id"].astype(str)
        size = -(-len(rows) // UPLOADS_PER_SITE)
        for part in range(UPLOADS_PER_SITE):
            chunk = rows.iloc[part * size : (part + 1) * size]
            path = files / f"{site}-survey-{part + 1}.xlsx"
            with pd.ExcelWriter(path, engine="xlsxwriter") as writer:
                chunk.to_excel(writer, sheet_name="survey_responses", index=False)
            uploads.append(Upload(site, path, tuple(chunk["response_id"].astype(str))))
    return sites_csv, uploads


def fresh_workspace(home: Path, sites_csv: Path) -> Settings:
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home)
    init_workspace(settings)
    for path in (sites_csv, SAMPLE_DATA_DIR / "paradigm_statements.csv"):
        report = ingest_file(settings, path)
        assert report.status == "loaded", report.summary()
    return settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def send_all(
    base: str, tokens: dict[str, str], uploads: list[Upload]
) -> list[dict[str, object]]:
    """Sign every site in, then send every upload at once; one timing per upload."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    clients = {
        site: httpx.AsyncClient(base_url=base, timeout=600, limits=limits) for site in tokens
    }
    try:
        csrf: dict[str, str] = {}
        for site, client in clients.items():
            page = await client.get("/login")
            login = await client.post(
                "/login", data={"token": tokens[site], "csrf_token": CSRF.findall(page.text)[0]}
            )
            assert login.status_code == 303, login.text
            csrf[site] = CSRF.findall((await client.get("/")).text)[0]

        async def one(upload: Upload) -> dict[str, object]:
            data = upload.path.read_bytes()
            start = time.perf_counter()
            response = await clients[upload.site].post(
                "/upload", data={"csrf_token": csrf[upload.site]},
                files={"file": (upload.path.name, data)},
            )  # fmt: skip
            seconds = time.perf_counter() - start
            return {"upload": upload, "status": response.status_code, "seconds": seconds,
                    "accepted": "Every row was loaded" in response.text}  # fmt: skip

        return list(await asyncio.gather(*(one(u) for u in uploads)))
    finally:
        for client in clients.values():
            await client.aclose()


def check_exactly_once(settings: Settings, uploads: list[Upload]) -> int:
    """Every file archived and recorded once as loaded; every row present exactly once."""
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        ingests = warehouse.ingests()
        survey = warehouse.current("survey_responses")
    expected = [rid for u in uploads for rid in u.response_ids]
    assert len(expected) == len(set(expected))
    assert survey["response_id"].is_unique, "a response is in the warehouse twice"
    assert sorted(survey["response_id"].astype(str)) == sorted(expected), "rows lost or added"
    for upload in uploads:
        sha = hashlib.sha256(upload.path.read_bytes()).hexdigest()
        records = ingests[ingests["file_sha256"] == sha]
        assert list(records["status"]) == ["loaded"], (upload.path.name, list(records["status"]))
        assert int(records["rows_accepted"].iloc[0]) == len(upload.response_ids)
        assert records["site_id"].iloc[0] == upload.site
        archived = Path(records["archive_path"].iloc[0])
        assert archived.read_bytes() == upload.path.read_bytes(), "archive differs from upload"
    return len(expected)


def quantiles(seconds: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return statistics.median(seconds), cuts[94], max(seconds)


def run(work: Path) -> str:
    work.mkdir(parents=True, exist_ok=True)
    sites_csv, uploads = prepare(work)
    settings = fresh_workspace(work / "portal-ws", sites_csv)
    store = TokenStore(settings.portal_dir / "tokens.json")
    tokens = {site: store.create("site", site_id=site) for site in {u.site for u in uploads}}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reval.cli", "portal", "--port", str(port)],
        env={**os.environ, "REVAL_HOME": str(settings.home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the portal did not start: {server.stderr.read() if server.stderr else ''}"
                )
            time.sleep(0.2)
        start = time.perf_counter()
        results = asyncio.run(send_all(base, tokens, uploads))
        portal_wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    errors = [r for r in results if r["status"] != 200 or not r["accepted"]]
    assert not errors, [(r["upload"].path.name, r["status"]) for r in errors]  # type: ignore[union-attr]
    rows = check_exactly_once(settings, uploads)

    peer = fresh_workspace(work / "direct-ws", sites_csv)
    direct: list[float] = []
    start = time.perf_counter()
    for upload in uploads:
        began = time.perf_counter()
        report = ingest_file(peer, upload.path, upload.path.name, site_id=upload.site)
        direct.append(time.perf_counter() - began)
        assert report.status == "loaded", report.summary()
    direct_wall = time.perf_counter() - start
    assert check_exactly_once(peer, uploads) == rows

    p50, p95, worst = quantiles([float(r["seconds"]) for r in results])  # type: ignore[arg-type]
    d50, d95, dworst = quantiles(direct)
    size = sum(u.path.stat().st_size for u in uploads) / len(uploads) / 1024
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. {len(uploads)} survey workbooks ({rows:,} rows in all, "
        f"~{size:.0f} KB each) from {len(tokens)} sites, {UPLOADS_PER_SITE} per site, all sent at "
        "once over loopback to `reval portal` (uvicorn, one process, "
        f"{settings.portal_ingest_workers} uploads checked at a time, one warehouse writer).",
        "",
        "| case | uploads | wall (s) | p50 (s) | p95 (s) | max (s) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| portal: 50 concurrent HTTP uploads (response time, send to full result page) | "
        f"{len(uploads)} | {portal_wall:.1f} | {p50:.2f} | **{p95:.2f}** | {worst:.2f} | {len(errors)} |",
        f"| peer: the same files through `ingest_file`, one after another, in process (time per call) | "
        f"{len(uploads)} | {direct_wall:.1f} | {d50:.2f} | {d95:.2f} | {dworst:.2f} | 0 |",
        "",
        f"Portal wall time / direct sequential wall time: **{portal_wall / direct_wall:.2f}x**. "
        f"Checked after the run: all {len(uploads)} files archived byte for byte and recorded once "
        f"as loaded for their own site, all {rows:,} rows in the warehouse exactly once, no errors. "
        "Response times include waiting for the uploads ahead: with one writer, the last of a "
        "burst of 50 waits for the other 49.",
    ]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".bench/portal")))
