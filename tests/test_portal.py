"""The upload portal over HTTP (TestClient): every route, and every refusal.

One workspace per module (catalogue and the six sample sites registered); each test
uploads files of its own, so the order does not matter.
"""

from __future__ import annotations

import concurrent.futures
import io
import re
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openpyxl
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from reval.config import SAMPLE_DATA_DIR, Settings
from reval.pipeline import ingest_file, init_workspace
from reval.portal import create_app
from reval.portal.access import TokenStore
from reval.portal.app import running_portal
from reval.portal.security import AuditLog
from reval.warehouse import Warehouse

MB = 1024 * 1024
SITE_A, SITE_B = "airedale_care_homes", "gm_cancer"
SAMPLE_SITES = (SITE_A, SITE_B, "morecambe_bay", "royal_free_staff", "stockport_together",
                "wellbeing_erewash")  # fmt: skip
SITES_CSV = "site_id,site_name,care_model,region,start_date\n" + "".join(
    f"{s},{s.replace('_', ' ').title()},Test model,North West,2016-04-01\n" for s in SAMPLE_SITES
)


def events_csv(site: str, tag: str, rows: int = 3, phase: str = "emergence") -> bytes:
    """A small events upload whose rows are unique to ``tag``."""
    lines = ["site_id,event_date,event_type,phase,description"]
    lines += [
        f"{site},2017-02-{i + 1:02d},{tag} meeting,{phase},{tag} meeting {i}" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("portal") / "workspace"
    settings = Settings(home=home, max_upload_bytes=2 * MB)
    init_workspace(settings)
    sites = home.parent / "sites.csv"
    sites.write_text(SITES_CSV, encoding="utf-8")
    assert ingest_file(settings, sites).status == "loaded"
    assert ingest_file(settings, SAMPLE_DATA_DIR / "paradigm_statements.csv").status == "loaded"
    latest = settings.reports_dir / "latest"
    latest.mkdir(parents=True)
    for name in ("programme.html", "programme.pdf", f"site-{SITE_A}.html",
                 f"participant-{SITE_A}.pdf", f"site-{SITE_B}.html", "notes.txt"):  # fmt: skip
        (latest / name).write_bytes(f"<h1>{name}</h1>".encode())
    (home.parent / "secret.html").write_text("outside the library", encoding="utf-8")
    (latest / f"site-{'morecambe_bay'}.html").symlink_to(home.parent / "secret.html")
    return settings


@pytest.fixture(scope="module")
def tokens(settings: Settings) -> dict[str, str]:
    store = TokenStore(settings.portal_dir / "tokens.json")
    return {
        "a": store.create("site", site_id=SITE_A),
        "b": store.create("site", site_id=SITE_B),
        "funder": store.create("funder", name="nhs england"),
        "admin": store.create("admin", name="evaluation team"),
    }


@pytest.fixture(scope="module")
def app(settings: Settings, tokens: dict[str, str]) -> FastAPI:
    return create_app(settings)


def _client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def csrf_of(client: TestClient, url: str = "/login") -> str:
    response = client.get(url)
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, response.text
    return match[1]


def sign_in(client: TestClient, token: str) -> httpx.Response:
    return client.post("/login", data={"token": token, "csrf_token": csrf_of(client)})


@contextmanager
def _signed_in(app: FastAPI, token: str) -> Iterator[TestClient]:
    with _client(app) as client:
        assert sign_in(client, token).status_code == 303
        yield client


@pytest.fixture
def as_a(app: FastAPI, tokens: dict[str, str]) -> Iterator[TestClient]:
    with _signed_in(app, tokens["a"]) as client:
        yield client


@pytest.fixture
def as_b(app: FastAPI, tokens: dict[str, str]) -> Iterator[TestClient]:
    with _signed_in(app, tokens["b"]) as client:
        yield client


@pytest.fixture
def as_funder(app: FastAPI, tokens: dict[str, str]) -> Iterator[TestClient]:
    with _signed_in(app, tokens["funder"]) as client:
        yield client


@pytest.fixture
def as_admin(app: FastAPI, tokens: dict[str, str]) -> Iterator[TestClient]:
    with _signed_in(app, tokens["admin"]) as client:
        yield client


def multipart(filename: str | None, content: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart body built by hand, so file names go over the wire exactly as given."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields.items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   f"{value}\r\n".encode())  # fmt: skip
    if filename is not None:
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '.encode())
        body.write(b'filename="' + filename.encode() + b'"\r\n')
        body.write(b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def upload(client: TestClient, filename: str | None, content: bytes, *, csrf: str | None = "auto",
           **fields: str) -> httpx.Response:  # fmt: skip
    if csrf == "auto":
        csrf = csrf_of(client, "/")
    form = ({"csrf_token": csrf} if csrf is not None else {}) | fields
    body, content_type = multipart(filename, content, form)
    return client.post("/upload", content=body, headers={"content-type": content_type})


def warehouse_events(settings: Settings, tag: str) -> list[tuple[str, str]]:
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        events = warehouse.current("events")
    rows = events[events["description"].str.startswith(f"{tag} ")]
    return list(zip(rows["site_id"], rows["description"], strict=True))


def audit(settings: Settings) -> list[dict[str, object]]:
    return AuditLog(settings.portal_dir / "audit.log").entries()


def incoming_is_empty(settings: Settings) -> bool:
    folder = settings.portal_dir / "incoming"
    return not folder.exists() or not any(folder.iterdir())


# --- signing in ---------------------------------------------------------------------------


def test_pages_need_a_sign_in(app: FastAPI) -> None:
    with _client(app) as client:
        for url in ("/", "/reports", "/reports/programme.html", "/templates/events.xlsx",
                    "/uploads/0123456789abcdef/fixes.xlsx"):  # fmt: skip
            response = client.get(url)
            assert response.status_code == 303, url
            assert response.headers["location"] == "/login"
        login = client.get("/login")
        assert login.status_code == 200
        assert '<html lang="en-GB">' in login.text
        assert '<label for="token">Access token</label>' in login.text
        assert client.get("/healthz").text == "ok\n"
        assert client.get("/static/portal.css").status_code == 200  # no sign-in needed
        assert "drop" in client.get("/static/portal.js").text
        assert client.get("/static/..%2F__init__.py").status_code == 404
        assert client.get("/static/../app.py").status_code == 404


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_it(
    app: FastAPI, tokens: dict[str, str], settings: Settings
) -> None:
    with _client(app) as client:
        response = sign_in(client, tokens["a"])
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" not in cookie  # plain HTTP here; see the Secure test
        home = client.get("/")
        assert home.status_code == 200
        assert "Upload data for Airedale Care Homes" in home.text  # the site's name, not its code
        assert "Signed in as <strong>Airedale Care Homes</strong>" in home.text
        assert tokens["a"] not in home.text
        out = client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
        assert out.status_code == 303
        assert client.get("/").headers["location"] == "/login"
    events = [e for e in audit(settings) if e["event"] in {"login", "logout"}]
    assert any(e["event"] == "logout" and e["site_id"] == SITE_A for e in events)


def test_cookies_are_secure_when_behind_tls(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "ws", portal_secure_cookies=True)
    token = TokenStore(settings.portal_dir / "tokens.json").create("site", site_id=SITE_A)
    with TestClient(create_app(settings), base_url="https://portal.test",
                    follow_redirects=False) as client:  # fmt: skip
        response = sign_in(client, token)
    assert response.status_code == 303
    assert "secure" in response.headers["set-cookie"].lower()


def test_a_wrong_token_is_refused_and_logged(
    app: FastAPI, tokens: dict[str, str], settings: Settings
) -> None:
    with _client(app) as client:
        wrong = tokens["a"][:-4] + "AAAA"
        response = client.post("/login", data={"token": wrong, "csrf_token": csrf_of(client)})
        assert response.status_code == 401
        assert "was not recognised" in response.text
        assert client.get("/").status_code == 303
    failed = [e for e in audit(settings) if e["event"] == "login" and e["outcome"] == "failed"]
    assert failed
    assert failed[-1]["token_id"] == tokens["a"].split(".")[0]


def test_sign_ins_are_rate_limited_per_client(settings: Settings, tokens: dict[str, str]) -> None:
    app = create_app(settings)  # a fresh limiter
    with _client(app) as client:
        for _ in range(settings.portal_login_attempts):
            response = client.post("/login", data={"token": "nope", "csrf_token": csrf_of(client)})
            assert response.status_code == 401
        blocked = sign_in(client, tokens["a"])  # even the right token waits
        assert blocked.status_code == 429
        assert "too many sign-in attempts" in blocked.text
        assert int(blocked.headers["retry-after"]) > 0
        assert "Traceback" not in blocked.text
    assert any(e["event"] == "login" and e.get("status") == 429 for e in audit(settings))


def test_a_revoked_token_ends_its_session(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "ws")
    store = TokenStore(settings.portal_dir / "tokens.json")
    token = store.create("site", site_id=SITE_A)
    with _client(create_app(settings)) as client:
        assert sign_in(client, token).status_code == 303
        assert client.get("/").status_code == 200
        store.revoke(token.split(".")[0])
        assert client.get("/").headers["location"] == "/login"
        assert sign_in(client, token).status_code == 401


def test_tokens_are_stored_only_as_hashes(
    settings: Settings, tokens: dict[str, str], as_a: TestClient, as_funder: TestClient
) -> None:
    """No file anywhere in the workspace holds a token's secret part."""
    assert upload(as_a, "hash-check.csv", events_csv(SITE_A, "hashcheck")).status_code == 200
    secrets_ = [t.split(".", 1)[1].encode() for t in tokens.values()]
    files = [p for p in settings.home.rglob("*") if p.is_file()]
    assert any(p.name == "tokens.json" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets_:
            assert secret not in data, path
    stored = (settings.portal_dir / "tokens.json").read_text()
    assert stored.count("$argon2id$") == len(tokens)
    assert (settings.portal_dir / "tokens.json").stat().st_mode & 0o777 == 0o600
    assert settings.portal_dir.stat().st_mode & 0o077 == 0  # only its owner may look inside
    assert (settings.portal_dir / "session-secret").stat().st_mode & 0o777 == 0o600
    assert (settings.portal_dir / "audit.log").stat().st_mode & 0o777 == 0o600


# --- CSRF -----------------------------------------------------------------------------------


def test_every_form_needs_its_csrf_token(
    app: FastAPI, tokens: dict[str, str], as_a: TestClient, settings: Settings
) -> None:
    with _client(app) as fresh:
        assert fresh.post("/login", data={"token": tokens["a"]}).status_code == 403
        fresh.get("/login")  # a session now, but a forged token
        assert (
            fresh.post("/login", data={"token": tokens["a"], "csrf_token": "x" * 43}).status_code
            == 403
        )
    missing = upload(as_a, "csrf.csv", events_csv(SITE_A, "csrfmissing"), csrf=None)
    assert missing.status_code == 403
    assert "did not come from this portal" in missing.text
    forged = upload(as_a, "csrf.csv", events_csv(SITE_A, "csrfforged"), csrf="forged")
    assert forged.status_code == 403
    assert as_a.post("/logout", data={}).status_code == 403
    assert as_a.get("/").status_code == 200  # still signed in
    assert warehouse_events(settings, "csrfmissing") == []
    assert warehouse_events(settings, "csrfforged") == []
    assert incoming_is_empty(settings)
    assert sum(e["event"] == "csrf" for e in audit(settings)) >= 4


# --- uploads --------------------------------------------------------------------------------


def test_a_site_uploads_its_workbook_and_sees_it_accepted(
    as_a: TestClient, settings: Settings
) -> None:
    data = (SAMPLE_DATA_DIR / "workbooks" / f"{SITE_A}.xlsx").read_bytes()
    response = upload(as_a, f"{SITE_A}.xlsx", data)
    assert response.status_code == 200
    assert "Accepted" in response.text
    assert "Every row was loaded" in response.text
    assert "What to fix" not in response.text
    assert f"{SITE_A}.xlsx" in response.text  # in the history too
    record = [e for e in audit(settings) if e["event"] == "upload"][-1]
    assert record["outcome"] == "loaded"
    assert record["site_id"] == SITE_A
    archived = settings.archive_dir / str(record["sha256"])[:2] / f"{record['sha256']}.xlsx"
    assert archived.read_bytes() == data
    again = upload(as_a, "copy.xlsx", data)
    assert "Already received" in again.text
    earlier = re.search(r"This exact file was received on (\d\d \w{3} \d{4}, \d\d:\d\d UTC) "
                        r"and loaded then.*?<a href=\"(/uploads/[0-9a-f]+)\">See what became of it",
                        again.text, re.S)  # fmt: skip
    assert earlier, again.text
    first = as_a.get(earlier[2])
    assert "Accepted" in first.text
    assert f"{SITE_A}.xlsx" in first.text
    assert f"Received {earlier[1]}." in first.text
    assert incoming_is_empty(settings)


def test_problems_are_listed_with_row_column_and_value(
    as_a: TestClient, settings: Settings
) -> None:
    lines = events_csv(SITE_A, "broken", rows=3).decode().splitlines()
    lines[2] = lines[2].replace("emergence", "growing")
    lines[3] = lines[3].replace("2017-02-03", "31/31/2017")
    response = upload(as_a, "events broken.csv", ("\n".join(lines) + "\n").encode())
    assert response.status_code == 200
    assert "Partly accepted" in response.text
    text = re.sub(r"\s+", " ", response.text)
    assert re.search(r"<td>cell D3 \(phase\)</td> <td class=\"num\">1</td> <td>"
                     r"&#39;growing&#39; is not one of the allowed answers", text)  # fmt: skip
    assert re.search(r"<td>cell B4 \(event_date\)</td> <td class=\"num\">1</td> <td>"
                     r"&#39;31/31/2017&#39; is not a date", text)  # fmt: skip
    assert "2 problems in 2 rows" in text
    # the history links each upload to what became of it, the same page again
    past = re.search(r'<a href="(/uploads/[0-9a-f]+)">events broken.csv</a>', text)
    assert past
    again = re.sub(r"\s+", " ", as_a.get(past[1]).text)
    assert "Partly accepted" in again
    assert re.search(r"<td>cell D3 \(phase\)</td>", again)
    assert as_a.get("/uploads/" + "0" * 32).status_code == 404
    assert warehouse_events(settings, "broken") == [(SITE_A, "broken meeting 0")]
    fixes = re.search(r'href="(/uploads/[0-9a-f]+/fixes\.xlsx)"', response.text)
    assert fixes
    download = as_a.get(fixes[1])
    assert download.status_code == 200
    assert download.content[:2] == b"PK"
    assert "events%20broken-to-fix.xlsx" in download.headers["content-disposition"]
    assert not any((settings.portal_dir / "outgoing").iterdir())  # the temporary copy is gone


def test_a_site_cannot_load_rows_for_another_site(as_a: TestClient, settings: Settings) -> None:
    """A file that is all another site's is one sentence, with no rows to fix offered."""
    response = upload(as_a, "theirs.csv", events_csv(SITE_B, "crosssite"))
    assert response.status_code == 422
    assert "Not accepted" in response.text
    text = re.sub(r"\s+", " ", response.text)
    assert "This file is for Gm Cancer (gm_cancer), not for Airedale" in text
    assert "every one of its 3 rows names another site in site_id, so nothing was loaded" in text
    assert "Download the rows to fix" not in text
    assert 'class="problems"' not in text
    # nor in the history: that upload's line says whose file it was not
    line = re.search(r"<td><a href=\"/uploads/[0-9a-f]+\">theirs.csv</a></td>.*?</tr>", text)
    assert line
    assert "Not this site's file" in line[0]
    assert "fixes.xlsx" not in line[0]
    assert warehouse_events(settings, "crosssite") == []


def test_a_large_file_for_another_site_gives_a_short_page(
    as_a: TestClient, settings: Settings
) -> None:
    """10,000 rows of another site's events: a page under 50 KB; the detail downloads."""
    days = pd.date_range("2016-01-01", periods=1_000, freq="D").strftime("%Y-%m-%d")
    lines = ["site_id,event_date,event_type,phase,description"]
    lines += [f"{SITE_B},{days[i // 10]},meeting {i % 10},emergence,bigwrong {i}"
              for i in range(10_000)]  # fmt: skip
    response = upload(as_a, "big theirs.csv", ("\n".join(lines) + "\n").encode())
    assert response.status_code == 422
    assert len(response.content) < 50_000
    assert "every one of its 10000 rows names another site" in response.text
    detail = re.search(r'href="(/uploads/[0-9a-f]+/problems\.xlsx)"', response.text)
    assert detail
    listed = pd.read_excel(io.BytesIO(as_a.get(detail[1]).content), engine="calamine")
    assert len(listed) == 10_000
    assert listed["cell"].iloc[-1] == "A10001"


def test_notes_are_worth_knowing_not_problems_to_fix(as_a: TestClient, settings: Settings) -> None:
    """A note keeps its rows (an age band overlapping another): the file is accepted and
    the note is said apart from anything to fix."""
    book = SAMPLE_DATA_DIR / "workbooks" / f"{SITE_A}.xlsx"
    survey = pd.read_excel(book, sheet_name="survey_responses", engine="calamine").head(1)
    survey["response_id"], survey["respondent_id"] = "NOTE-1", "NOTE1"
    survey["age_band"] = "60-69"
    response = upload(as_a, "survey_responses.csv", survey.to_csv(index=False).encode())
    text = re.sub(r"\s+", " ", response.text)
    assert "Worth knowing" in text
    assert "overlaps the age band" in text
    assert "What to fix" not in text


def test_the_same_problem_on_many_rows_is_one_line(as_a: TestClient, settings: Settings) -> None:
    lines = events_csv(SITE_A, "manyrows", rows=28, phase="growing").decode().splitlines()
    lines[5] = lines[5].replace("growing", "emergence")
    response = upload(as_a, "events many.csv", ("\n".join(lines) + "\n").encode())
    text = re.sub(r"\s+", " ", response.text)
    rows = re.findall(r"<tr> <td>events many.csv</td>.*?</tr>", text)
    assert rows == [
        "<tr> <td>events many.csv</td> <td>rows 2-5 and 7-29, column D (phase)</td> <td class="
        '"num">27</td> <td>&#39;growing&#39; is not one of the allowed answers; write one of: '
        "enduring_crisis, emergence, impact_formalisation, adaptation, decline.</td> </tr>"
    ]
    assert "Download the rows to fix (.xlsx)" in text


def test_a_site_cannot_choose_another_site_with_form_fields(
    as_a: TestClient, settings: Settings
) -> None:
    response = upload(as_a, "sneaky.csv", events_csv(SITE_B, "formsite"), site_id=SITE_B,
                      site=SITE_B)  # fmt: skip
    assert response.status_code == 422
    assert warehouse_events(settings, "formsite") == []
    upload_entry = [e for e in audit(settings) if e["event"] == "upload"][-1]
    assert upload_entry["site_id"] == SITE_A


@pytest.mark.parametrize(
    ("filename", "reason"),
    [
        ("../../x.xlsx", "folder path"),
        ("..\\..\\x.xlsx", "folder path"),
        ("/etc/cron.d/x.csv", "folder path"),
        ("good\x00.csv", "hidden control characters"),
        (".bashrc.csv", "starts with a dot"),
        ("a" * 300 + ".csv", "longer than"),
    ],
)
def test_unsafe_file_names_are_refused(
    as_a: TestClient, settings: Settings, filename: str, reason: str
) -> None:
    tag = f"unsafe{uuid.uuid4().hex[:6]}"
    response = upload(as_a, filename, events_csv(SITE_A, tag))
    assert response.status_code == 400
    assert "cannot be accepted" in response.text
    assert reason in response.text
    assert "Traceback" not in response.text
    assert warehouse_events(settings, tag) == []
    assert incoming_is_empty(settings)
    assert not (settings.home.parent / "x.xlsx").exists()
    assert not Path("/etc/cron.d/x.csv").exists()


def test_an_oversized_upload_is_refused_without_keeping_it(
    as_a: TestClient, settings: Settings
) -> None:
    big = events_csv(SITE_A, "oversized") + b"#" * (2 * MB)
    response = upload(as_a, "big.csv", big)
    assert response.status_code == 413
    assert "larger than 2 MB" in response.text
    assert incoming_is_empty(settings)
    assert warehouse_events(settings, "oversized") == []
    entry = [e for e in audit(settings) if e["event"] == "upload"][-1]
    assert entry["status"] == 413


def zip_bomb() -> bytes:
    """11 MB of zeros in one part: ~11 KB on the wire."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/workbook.xml", b"<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", bytes(11 * MB))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "content", "words"),
    [
        ("photo.xlsx", b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG picture"),
        ("empty.csv", b"", "empty"),
        ("bomb.xlsx", zip_bomb(), "unpack"),
        ("macro.xlsm", b"PK\x03\x04", "macro"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(
    as_a: TestClient, settings: Settings, filename: str, content: bytes, words: str
) -> None:
    response = upload(as_a, filename, content)
    assert response.status_code == 422
    assert "Refused" in response.text
    assert "nothing from it was loaded" in response.text
    assert words in response.text.lower() or words in response.text
    assert "Traceback" not in response.text
    assert incoming_is_empty(settings)


def test_an_upload_without_a_file_says_so(as_a: TestClient) -> None:
    response = upload(as_a, "", b"")
    assert response.status_code == 400
    assert "No file was chosen" in response.text
    assert upload(as_a, None, b"").status_code == 400
    not_a_form = as_a.post("/upload", content=b"x", headers={"content-type": "text/plain"})
    assert not_a_form.status_code == 400


def test_a_busy_warehouse_is_explained(
    as_a: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reval.portal import app as portal_app
    from reval.warehouse import WarehouseBusyError

    def busy(*args: object, **kwargs: object) -> None:
        raise WarehouseBusyError(settings.warehouse_path, 1)

    monkeypatch.setattr(portal_app, "ingest_file", busy)
    response = upload(as_a, "busy.csv", events_csv(SITE_A, "busy"))
    assert response.status_code == 503
    assert "try again" in response.text
    assert incoming_is_empty(settings)


# --- what each role may see -----------------------------------------------------------------


def test_a_site_sees_only_its_own_history_and_fixes(
    as_a: TestClient, as_b: TestClient, settings: Settings
) -> None:
    lines = events_csv(SITE_B, "bsecret", rows=2).decode().replace("emergence", "wrong", 1)
    response = upload(as_b, "b-private-file.csv", lines.encode())
    assert "Partly accepted" in response.text
    fixes = re.search(r'href="(/uploads/([0-9a-f]+)/fixes\.xlsx)"', response.text)
    assert fixes
    assert as_b.get(fixes[1]).status_code == 200
    home_a = as_a.get("/")
    assert "b-private-file.csv" not in home_a.text
    refused = as_a.get(fixes[1])
    assert refused.status_code == 404
    assert "There is no upload of yours" in refused.text
    assert as_a.get("/uploads/not-an-id/fixes.xlsx").status_code == 404
    assert any(e["event"] == "fixes" and e["outcome"] == "refused" and e["site_id"] == SITE_A
               for e in audit(settings))  # fmt: skip


def test_the_funder_reads_reports_but_no_data(
    as_funder: TestClient, as_b: TestClient, settings: Settings
) -> None:
    lines = events_csv(SITE_B, "funderview", rows=2).decode().replace("emergence", "wrong", 1)
    response = upload(as_b, "funder-cannot-see.csv", lines.encode())
    fixes = re.search(r'href="(/uploads/[0-9a-f]+/fixes\.xlsx)"', response.text)
    assert fixes
    assert as_funder.get("/").headers["location"] == "/reports"
    assert as_funder.get(fixes[1]).status_code == 403
    assert as_funder.get("/templates/events.xlsx").status_code == 403
    refused = upload(
        as_funder, "f.csv", events_csv(SITE_B, "byfunder"), csrf=csrf_of(as_funder, "/reports")
    )
    assert refused.status_code == 403
    assert "cannot upload" in refused.text
    assert warehouse_events(settings, "byfunder") == []
    library = as_funder.get("/reports")
    assert "funder-cannot-see.csv" not in library.text
    for name in ("programme.html", "programme.pdf", f"site-{SITE_A}.html", f"site-{SITE_B}.html",
                 f"participant-{SITE_A}.pdf"):  # fmt: skip
        assert f'href="/reports/{name}"' in library.text
        assert as_funder.get(f"/reports/{name}").status_code == 200
    assert "notes.txt" not in library.text


def test_a_site_reads_only_its_own_reports(as_a: TestClient, settings: Settings) -> None:
    library = as_a.get("/reports")
    assert f'href="/reports/site-{SITE_A}.html"' in library.text
    assert f'href="/reports/participant-{SITE_A}.pdf"' in library.text
    assert "/reports/programme" not in library.text
    assert f"site-{SITE_B}" not in library.text
    view = as_a.get(f"/reports/site-{SITE_A}.html")
    assert view.status_code == 200
    assert view.text == f"<h1>site-{SITE_A}.html</h1>"
    assert "sandbox" in view.headers["content-security-policy"]
    pdf = as_a.get(f"/reports/participant-{SITE_A}.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    for name in (f"site-{SITE_B}.html", "programme.html", "notes.txt", "nothing.html"):
        assert as_a.get(f"/reports/{name}").status_code == 404, name
    entries = [e for e in audit(settings) if e["event"] == "report_view" and e["site_id"] == SITE_A]
    assert {e["report"] for e in entries if e["outcome"] == "ok"} >= {f"site-{SITE_A}.html"}
    assert any(e["outcome"] == "refused" and e["report"] == f"site-{SITE_B}.html" for e in entries)


def test_report_paths_cannot_leave_the_library(as_admin: TestClient) -> None:
    for url in ("/reports/..%2F..%2Fwarehouse.duckdb", "/reports/..%2Fsecret.html",
                "/reports/%2Fetc%2Fpasswd", "/reports/site-morecambe_bay.html",
                "/reports/../../portal/tokens.json"):  # fmt: skip
        response = as_admin.get(url)
        assert response.status_code == 404, url
        assert "outside the library" not in response.text
        assert "argon2" not in response.text


def test_admin_sees_every_upload_and_may_upload_the_catalogue(
    as_admin: TestClient, settings: Settings
) -> None:
    home = as_admin.get("/")
    assert "Recent uploads (all sites)" in home.text
    assert "paradigm_statements.xlsx" in home.text
    response = upload(as_admin, "admin-events.csv", events_csv(SITE_B, "byadmin", rows=2))
    assert "Accepted" in response.text
    assert len(warehouse_events(settings, "byadmin")) == 2


def test_templates_download(as_a: TestClient) -> None:
    home = as_a.get("/")
    assert 'href="/templates/survey_responses.xlsx"' in home.text
    assert "paradigm_statements.xlsx" not in home.text  # the catalogue is the team's
    response = as_a.get("/templates/survey_responses.xlsx")
    assert response.status_code == 200
    assert response.content[:2] == b"PK"
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["survey_responses"]
    site = [c.value for c in sheet[2]].index("site_id") + 1
    assert sheet.cell(row=3, column=site).value == SITE_A  # the site's own, filled in
    assert sheet.protection.sheet
    assert as_a.get("/templates/nothing.xlsx").status_code == 404
    assert as_a.get("/templates/..%2Fsites.xlsx").status_code == 404


# --- errors ---------------------------------------------------------------------------------


def test_errors_are_plain_pages_without_stack_traces(
    as_a: TestClient, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    from reval.portal import app as portal_app

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail /secret/path")

    assert as_a.get("/no/such/page").status_code == 404
    assert "There is no page at this address" in as_a.get("/no/such/page").text
    assert as_a.delete("/").status_code == 405
    monkeypatch.setattr(portal_app, "upload_history", broken)
    response = as_a.get("/")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "Traceback" not in response.text
    assert "/secret/path" not in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert any(e["event"] == "server_error" for e in audit(settings))


def test_a_busy_warehouse_on_a_page_is_a_503_not_a_crash(
    as_a: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reval.portal import app as portal_app
    from reval.warehouse import WarehouseBusyError

    def busy(*args: object, **kwargs: object) -> None:
        raise WarehouseBusyError(settings.warehouse_path, 1)

    monkeypatch.setattr(portal_app, "upload_history", busy)
    response = as_a.get("/")
    assert response.status_code == 503
    assert "busy, try again in a minute" in response.text  # issue 17: said within seconds


def test_uploaded_text_is_shown_escaped(as_a: TestClient) -> None:
    evil = events_csv(SITE_A, "escaped", rows=1).replace(b"emergence", b"<script>alert(1)</script>")
    response = upload(as_a, "<b>evil.csv", evil)
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "<b>evil" not in response.text
    assert "&lt;b&gt;evil.csv" in response.text


def test_security_headers(as_a: TestClient) -> None:
    headers = as_a.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert "server" not in headers or "uvicorn" not in headers["server"]


def test_the_audit_log_records_every_kind_of_event(settings: Settings, as_a: TestClient) -> None:
    upload(as_a, "audited.csv", events_csv(SITE_A, "audited"))
    as_a.get(f"/reports/site-{SITE_A}.html")
    as_a.get("/reports/programme.html")
    entries = audit(settings)
    kinds = {(e["event"], e["outcome"]) for e in entries}
    assert {("login", "ok"), ("upload", "loaded"), ("report_view", "ok"),
            ("report_view", "refused")} <= kinds  # fmt: skip
    for entry in entries:
        assert {"time", "event", "outcome", "client"} <= entry.keys()


# --- command line ---------------------------------------------------------------------------


def test_tokens_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reval.cli import app as cli

    monkeypatch.setenv("REVAL_HOME", str(tmp_path / "ws"))
    runner = CliRunner()
    made = runner.invoke(cli, ["sites", "add-token", SITE_A])
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]{12}\.[A-Za-z0-9_-]{43}", token)
    assert runner.invoke(cli, ["sites", "add-token", "--funder", "nhs england"]).exit_code == 0
    assert runner.invoke(cli, ["sites", "add-token", "--admin"]).exit_code == 0
    assert runner.invoke(cli, ["sites", "add-token", "Bad Site!"]).exit_code == 2
    assert runner.invoke(cli, ["sites", "add-token"]).exit_code == 2
    listed = runner.invoke(cli, ["sites", "list"])
    assert token.split(".")[0] in listed.output
    assert token.split(".")[1] not in listed.output
    assert "funder" in listed.output
    revoked = runner.invoke(cli, ["sites", "revoke", token.split(".")[0]])
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(cli, ["sites", "list"]).output
    assert runner.invoke(cli, ["sites", "revoke", "nope"]).exit_code == 2
    assert runner.invoke(cli, ["portal", "--help"]).exit_code == 0


# --- many sites at once, on the real server -------------------------------------------------


def test_concurrent_uploads_from_four_sites_load_every_row_once(
    settings: Settings, tokens: dict[str, str]
) -> None:
    """12 uploads from 4 sites at once through uvicorn: each file archived, each row once."""
    store = TokenStore(settings.portal_dir / "tokens.json")
    sites = [SITE_A, SITE_B, "morecambe_bay", "royal_free_staff"]
    site_tokens = {site: store.create("site", site_id=site) for site in sites}
    jobs = [(site, f"conc{index}{site[:4]}") for site in sites for index in range(3)]

    def one(base: str, site: str, tag: str) -> tuple[int, str]:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=120) as client:
            page = client.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
            assert (
                client.post(
                    "/login", data={"token": site_tokens[site], "csrf_token": csrf}
                ).status_code
                == 303
            )
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)[1]  # type: ignore[index]
            response = client.post("/upload", data={"csrf_token": csrf},
                                   files={"file": (f"{tag}.csv", events_csv(site, tag, rows=4))})  # fmt: skip
            return response.status_code, response.text

    with running_portal(settings) as base, concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda job: one(base, *job), jobs))
    assert [status for status, _ in results] == [200] * len(jobs)
    assert all("Every row was loaded" in text for _, text in results)
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        events = warehouse.current("events")
        ingests = warehouse.ingests()
    for site, tag in jobs:
        rows = events[events["description"].str.startswith(f"{tag} ")]
        assert sorted(rows["description"]) == [f"{tag} meeting {i}" for i in range(4)]
        assert set(rows["site_id"]) == {site}
        record = ingests[ingests["original_filename"] == f"{tag}.csv"]
        assert len(record) == 1
        assert Path(record["archive_path"].iloc[0]).is_file()
    assert incoming_is_empty(settings)
