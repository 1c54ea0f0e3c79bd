"""The upload portal and report library: a thin FastAPI shell over the ingest and
report code.

Site coordinators sign in with their site's token, drop a spreadsheet and see at once
what was accepted and what to fix; funders read reports; the evaluation team (admin)
sees everything. Pages are rendered on the server and work without JavaScript; a few
lines of script add drag and drop. Every sign-in, upload, download, report view and
refusal is written to the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

import anyio
import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reval.config import Settings, private_files
from reval.contract import TABLES, table_schema
from reval.errors import RevalError
from reval.ingest.problems import NOTE_REASONS, group_problems
from reval.pipeline import IngestReport, UnknownUploadError, ingest_file, write_fixes
from reval.portal.access import SESSIONS_FILE, Principal, SessionStore, TokenStore
from reval.portal.library import ReportFile, find_report, latest_reports, may_read
from reval.portal.receive import BadUploadError, receive_upload
from reval.portal.security import (
    AuditLog,
    LoginLimiter,
    csrf_ok,
    new_csrf_token,
    session_secret,
)
from reval.spreadsheets import write_workbook
from reval.uploads import (
    blank_templates,
    past_result,
    problem_list,
    site_names,
    upload_history,
    upload_record,
)
from reval.warehouse import IngestRecord, WarehouseBusyError, WarehouseDamagedError

PACKAGE_DIR: Final[Path] = Path(__file__).parent
SESSION_COOKIE: Final[str] = "reval_session"
MAX_FORM_BYTES: Final[int] = 16 * 1024
MAX_GROUPS_SHOWN: Final[int] = 60
"""Lines of problems on a result page (the same problem on many rows is one line); the
full list is a download, so the page stays short for any file."""
PAGE_CSP: Final[str] = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
REPORT_CSP: Final[str] = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline' data:; font-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; sandbox allow-popups allow-downloads"
)
"""Reports are self-contained files that quote participants' words: no script runs."""

STATUS_WORDS: Final[dict[str, tuple[str, str]]] = {
    # status -> (headline, what it means), shown to coordinators
    "loaded": ("Accepted", "Every row was loaded. Thank you: there is nothing to fix."),
    "partly_loaded": ("Partly accepted", "Some rows were loaded; the rows listed below were not. "
                      "Fix them and upload the corrected rows again."),
    "rejected": ("Not accepted", "None of the rows could be loaded. Fix the problems listed "
                 "below and upload the file again."),
    "refused": ("Refused", "The file could not be read, so nothing from it was loaded."),
    "duplicate": ("Already received", "This exact file was loaded before, so there was "
                  "nothing new to load."),
}  # fmt: skip


class PortalState:
    """What the routes share: settings, the token store, the audit log, the limits."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tokens = TokenStore(settings.portal_dir / "tokens.json")
        self.sessions = SessionStore(settings.portal_dir / SESSIONS_FILE,
                                     settings.portal_session_hours)  # fmt: skip
        self.audit = AuditLog(settings.portal_dir / "audit.log")
        self.logins = LoginLimiter(settings.portal_login_attempts, settings.portal_login_window)
        self.incoming = settings.portal_dir / "incoming"
        self.outgoing = settings.portal_dir / "outgoing"
        self._ingest_limiters: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, anyio.CapacityLimiter
        ] = weakref.WeakKeyDictionary()
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        env.filters["when"] = _when
        env.filters["size"] = _size
        env.globals["programme_title"] = lambda: _programme_title(settings)
        self.pages = env
        self.site_names = SiteNames(settings)

    def ingest_limiter(self) -> anyio.CapacityLimiter:
        """Uploads checked at once (per event loop: anyio limiters belong to one)."""
        loop = asyncio.get_running_loop()
        limiter = self._ingest_limiters.get(loop)
        if limiter is None:
            limiter = anyio.CapacityLimiter(self.settings.portal_ingest_workers)
            self._ingest_limiters[loop] = limiter
        return limiter


def create_app(settings: Settings) -> FastAPI:
    """The portal for one workspace (tests build one per temporary workspace)."""
    private_files()  # uploads, templates and fix-up workbooks: owner-only
    # a page waits this long for another process's job (the nightly run), then says busy;
    # uploads still queue behind each other (the warehouse waits longer for this process)
    settings = Settings(**{**settings.model_dump(), "writer_lock_timeout": min(
        settings.writer_lock_timeout, settings.portal_busy_seconds)})  # fmt: skip
    settings.portal_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # tokens, log, secret
    state = PortalState(settings)
    app = FastAPI(title="reval portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.portal = state
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings.portal_dir / "session-secret"),
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.portal_session_hours * 3600),
        same_site="lax",
        https_only=settings.portal_secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")
    _add_error_pages(app, state)
    _add_routes(app, state)
    return app


# --- helpers ------------------------------------------------------------------------------


def client_of(request: Request) -> str:
    """The client's address (the proxy's X-Forwarded-For when uvicorn trusts it)."""
    return request.client.host if request.client else "unknown"


def current_user(request: Request) -> Principal | None:
    """The signed-in user: the cookie's session id must name a live server-side session
    (not signed out, not expired) whose token is still valid."""
    state: PortalState = request.app.state.portal
    session_id = request.session.get("sid")
    if session_id is None:
        return None
    record = state.sessions.find(session_id)
    who = None if record is None else state.tokens.active(record.token_id)
    if who is None:  # signed out, expired or revoked: this cookie is finished
        state.sessions.end(session_id)
        request.session.clear()
    return who


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = new_csrf_token()
        request.session["csrf"] = token
    return token


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    state: PortalState = request.app.state.portal
    who = context.pop("who", None)
    html = state.pages.get_template(template).render(
        who=who, csrf=csrf_token(request), path=request.url.path,
        site_name=state.site_names, **context,
    )  # fmt: skip
    return HTMLResponse(html, status_code=status)


class SiteNames:
    """A site as pages name it: its name from the sites table, else its code. The names are
    kept and read again at most once a minute, or after a few seconds when a page names a
    site not known yet, so pages do not queue behind uploads for the writer lock."""

    def __init__(self, settings: Settings, keep_seconds: float = 60.0,
                 retry_seconds: float = 5.0) -> None:  # fmt: skip
        self._settings = settings
        self._keep, self._retry = keep_seconds, retry_seconds
        self._names: dict[str, str] = {}
        self._read_at = -math.inf
        self._guard = threading.Lock()

    def __call__(self, site_id: object) -> str:
        site = str(site_id)
        age = time.monotonic() - self._read_at
        if age > self._keep or (site not in self._names and age > self._retry):
            self._read()
        return self._names.get(site, site)

    def _read(self) -> None:
        if not self._guard.acquire(blocking=False):
            return  # another page is reading them: this one says the code meanwhile
        try:
            self._read_at = time.monotonic()
            self._names = site_names(self._settings, wait=0.5)  # busy: codes for now
        except RevalError:  # a busy or damaged warehouse: the code still says which site
            pass
        finally:
            self._guard.release()


def refuse(request: Request, status: int, message: str, *, event: str,
           who: Principal | None = None, title: str | None = None, **detail: object) -> HTMLResponse:  # fmt: skip
    """A plain-English refusal page, written to the audit log first."""
    state: PortalState = request.app.state.portal
    state.audit.write(event, client=client_of(request), who=who, outcome="refused",
                      status=status, reason=message, path=request.url.path, **detail)  # fmt: skip
    return page(request, "error.html", status, who=who, title=title or _TITLES.get(status, "Sorry"),
                message=message)  # fmt: skip


_TITLES: Final[dict[int, str]] = {
    400: "That did not work",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    413: "File too large",
    429: "Too many attempts",
    503: "Busy: please try again",
}


async def read_small_form(request: Request) -> dict[str, str] | None:
    """A URL-encoded form of at most MAX_FORM_BYTES (None when larger or not a form)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


def _programme_title(settings: Settings) -> str:
    """The programme's title from its programme file, read per page (an edit shows at once)."""
    from reval.programme import DEFAULT_TITLE, ProgrammeError, load_programme

    try:
        return load_programme(settings.home).title
    except ProgrammeError:
        return DEFAULT_TITLE


def _when(value: dt.datetime | None) -> str:
    """Times as people read them: 27 Nov 2026, 14:05 (UTC)."""
    return "" if value is None else value.strftime("%d %b %Y, %H:%M UTC")


def _size(size: int) -> str:
    """File sizes as people read them: 12 KB, 3.4 MB (never 0 KB)."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def status_words(status: str) -> tuple[str, str]:
    return STATUS_WORDS.get(status, (status.replace("_", " ").capitalize(), ""))


TEMPLATE_TABLES: Final[dict[str, tuple[str, str]]] = {
    table: (table_schema(table).title or table, table_schema(table).description or "")
    for table in TABLES
}


# --- routes -------------------------------------------------------------------------------


def _add_routes(app: FastAPI, state: PortalState) -> None:
    settings = state.settings

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        return Response("ok\n", media_type="text/plain")

    @app.get("/")
    def home(request: Request) -> Response:
        who = current_user(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        if not who.may_upload():
            return RedirectResponse("/reports", status_code=303)
        return page(request, "home.html", who=who, history=_history(state, who),
                    tables=TEMPLATE_TABLES, max_mb=_mb(settings.max_upload_bytes),
                    status_words=status_words)  # fmt: skip

    @app.get("/login")
    def login_form(request: Request) -> Response:
        if current_user(request) is not None:
            return RedirectResponse("/", status_code=303)
        return page(request, "login.html", error=None)

    @app.post("/login")
    async def login(request: Request) -> Response:
        client = client_of(request)
        wait = state.logins.wait_seconds(client)
        if wait:
            return _too_many_sign_ins(request, wait)
        form = await read_small_form(request)
        if form is None or not csrf_ok(request.session.get("csrf"), form.get("csrf_token")):
            return _csrf_refusal(request, None)
        wait = await run_in_threadpool(state.logins.reserve, client)  # before the slow check
        if wait:
            return _too_many_sign_ins(request, wait)
        token = form.get("token", "")
        try:
            who = await run_in_threadpool(state.tokens.verify, token)
        except BaseException:
            state.logins.failed(client)
            raise
        if who is None:
            state.logins.failed(client)
            token_id = token.strip().split(".", 1)[0][:12] if "." in token else None
            state.audit.write("login", client=client, outcome="failed", token_id=token_id)
            return page(request, "login.html", 401, error="That access token was not "
                        "recognised. Check you copied all of it, or ask the evaluation team "
                        "for a new one.")  # fmt: skip
        state.logins.succeeded(client)
        state.sessions.end(request.session.get("sid"))
        request.session.clear()  # a new session at sign-in: nothing carries over
        session_id = await run_in_threadpool(state.sessions.start, who.token_id)
        request.session.update(sid=session_id, csrf=new_csrf_token())
        state.audit.write("login", client=client, who=who)
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        who = current_user(request)
        form = await read_small_form(request)
        if form is None or not csrf_ok(request.session.get("csrf"), form.get("csrf_token")):
            return _csrf_refusal(request, who)
        state.sessions.end(request.session.get("sid"))  # every copy of the cookie ends here
        request.session.clear()
        if who is not None:
            state.audit.write("logout", client=client_of(request), who=who)
        return RedirectResponse("/login", status_code=303)

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        who = current_user(request)
        if who is None:
            return refuse(request, 401, "Please sign in before uploading.", event="upload")
        if not who.may_upload():
            return refuse(request, 403, "Funder accounts can read reports but cannot upload "
                          "data.", event="upload", who=who)  # fmt: skip
        try:
            received = await receive_upload(request, state.incoming, settings.max_upload_bytes)
        except BadUploadError as error:
            return refuse(request, 400, f"The upload did not arrive as a file ({error}). "
                          "Please choose the file and try again.", event="upload", who=who)  # fmt: skip
        try:
            if not csrf_ok(request.session.get("csrf"), received.fields.get("csrf_token")):
                return _csrf_refusal(request, who)
            name = received.filename
            if received.too_large:
                return refuse(request, 413, f"The file is larger than {_mb(settings.max_upload_bytes)} MB, "
                              "the most reval accepts in one upload. Split it into smaller files "
                              "(for example one per table) and upload each.", event="upload",
                              who=who, file=name, bytes_received=received.size)  # fmt: skip
            if not name:
                return refuse(request, 400, "No file was chosen. Choose a spreadsheet (.xlsx, .ods "
                              "or .csv) and press Upload.", event="upload", who=who)  # fmt: skip
            if received.unsafe_name is not None or received.path is None:
                return refuse(request, 400, f"The file name '{name}' cannot be accepted: "
                              f"{received.unsafe_name}. Rename the file to something simple, such as "
                              "survey_responses.xlsx, and upload it again.", event="upload",
                              who=who, file=name)  # fmt: skip
            site_id = who.site_id if who.role == "site" else None  # never from the form
            try:
                report = await anyio.to_thread.run_sync(
                    partial(ingest_file, settings, received.path, name, site_id=site_id),
                    limiter=state.ingest_limiter(),
                )
            except WarehouseBusyError as error:
                return refuse(request, 503, f"{_busy_words(error)} Nothing from your file was "
                              "loaded; please upload it again then.", event="upload", who=who,
                              file=name)  # fmt: skip
            except WarehouseDamagedError:
                return refuse(request, 503, DAMAGED_WORDS, event="upload", who=who, file=name)
            except RevalError as error:
                return refuse(request, 400, str(error), event="upload", who=who, file=name)
        finally:
            received.discard()
        state.audit.write("upload", client=client_of(request), who=who, outcome=report.status,
                          file=name, ingest_id=report.ingest_id, sha256=report.sha256,
                          rows_accepted=report.rows_accepted, rows_rejected=report.rows_rejected,
                          problems=len(report.problems))  # fmt: skip
        history = await run_in_threadpool(_history, state, who)
        return _result_page(request, who, report, history)

    def own_upload(request: Request, who: Principal, ingest_id: str,
                   event: str) -> IngestRecord | HTMLResponse:  # fmt: skip
        """The upload ``who`` may look at (their site's; any for the evaluation team, none
        for a funder), or the same 404 page whether it does not exist or is someone else's:
        nothing leaks."""
        record = upload_record(settings, ingest_id) if _hex_id(ingest_id) else None
        if record is None or who.role == "funder" or not who.may_see_site(record.site_id):
            return refuse(request, 404, "There is no upload of yours with that reference.",
                          event=event, who=who, ingest_id=ingest_id)  # fmt: skip
        return record

    @app.get("/uploads/{ingest_id}")
    def past_upload(request: Request, ingest_id: str) -> Response:
        """What became of an earlier upload: the same page as just after it arrived."""
        who = current_user(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        record = own_upload(request, who, ingest_id, event="upload_view")
        if isinstance(record, Response):
            return record
        report = past_result(settings, record)
        state.audit.write("upload_view", client=client_of(request), who=who, ingest_id=ingest_id)
        return _result_page(request, who, report, _history(state, who), received=record.received_at)

    @app.get("/uploads/{ingest_id}/fixes.xlsx")
    def fixes(request: Request, ingest_id: str) -> Response:
        who = current_user(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        if who.role == "funder":
            return refuse(request, 403, "Funder accounts read reports only; uploaded rows are "
                          "not shown to them.", event="fixes", who=who, ingest_id=ingest_id)  # fmt: skip
        record = own_upload(request, who, ingest_id, event="fixes")
        if isinstance(record, Response):
            return record
        state.outgoing.mkdir(parents=True, exist_ok=True)
        out = state.outgoing / f"{uuid.uuid4().hex}.xlsx"
        try:
            write_fixes(settings, record.ingest_id, out)
        except UnknownUploadError:
            return refuse(request, 404, "There is no upload of yours with that reference.",
                          event="fixes", who=who, ingest_id=ingest_id)  # fmt: skip
        state.audit.write("fixes", client=client_of(request), who=who, ingest_id=ingest_id,
                          file=record.original_filename)  # fmt: skip
        stem = Path(record.original_filename).stem or "upload"
        return FileResponse(out, filename=f"{stem}-to-fix.xlsx", media_type=XLSX,
                            background=BackgroundTask(out.unlink, missing_ok=True))  # fmt: skip

    @app.get("/uploads/{ingest_id}/problems.xlsx")
    def problems_download(request: Request, ingest_id: str) -> Response:
        who = current_user(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        record = own_upload(request, who, ingest_id, event="problems")
        if isinstance(record, Response):
            return record
        state.outgoing.mkdir(parents=True, exist_ok=True)
        out = state.outgoing / f"{uuid.uuid4().hex}.xlsx"
        write_workbook(out, {"problems": problem_list(settings, record.ingest_id)},
                       title=f"Problems in {record.original_filename}")  # fmt: skip
        state.audit.write("problems", client=client_of(request), who=who, ingest_id=ingest_id)
        stem = Path(record.original_filename).stem or "upload"
        return FileResponse(out, filename=f"{stem}-problems.xlsx", media_type=XLSX,
                            background=BackgroundTask(out.unlink, missing_ok=True))  # fmt: skip

    @app.get("/templates/{table}.xlsx")
    def template(request: Request, table: str) -> Response:
        who = current_user(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        if not who.may_upload():
            return refuse(request, 403, "Templates are for sites sending data.",
                          event="template", who=who, table=table)  # fmt: skip
        if table not in TEMPLATE_TABLES:
            return refuse(request, 404, "There is no template of that name.", event="template",
                          who=who, table=table)  # fmt: skip
        site_id = who.site_id if who.role == "site" else None  # a site's own, filled in
        path = blank_templates(settings, site_id) / f"{table}.xlsx"
        state.audit.write("template", client=client_of(request), who=who, table=table)
        return FileResponse(path, filename=f"{table}.xlsx", media_type=XLSX)

    @app.get("/reports")
    def reports(request: Request) -> Response:
        who = current_user(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        found = latest_reports(settings.reports_dir / "latest", who)
        state.audit.write("report_list", client=client_of(request), who=who, reports=len(found))
        groups: dict[tuple[str, str | None], list[ReportFile]] = {}
        for found_report in found:  # one row per report, its formats side by side
            groups.setdefault((found_report.kind, found_report.site_id), []).append(found_report)
        return page(request, "reports.html", who=who, reports=list(groups.values()))

    @app.get("/reports/{name}")
    def report(request: Request, name: str) -> Response:
        who = current_user(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        found = find_report(settings.reports_dir / "latest", name)
        if found is None or not may_read(who, found):
            # the same answer for "missing" and "not yours": nothing leaks
            return refuse(request, 404, "There is no report of that name for you.",
                          event="report_view", who=who, report=name[:100])  # fmt: skip
        state.audit.write("report_view", client=client_of(request), who=who, report=found.name)
        inline = "inline" if found.format == "html" else "attachment"
        return FileResponse(found.path, media_type=found.media_type,
                            headers={"Content-Security-Policy": REPORT_CSP,
                                     "Content-Disposition": f'{inline}; filename="{found.name}"'})  # fmt: skip


XLSX: Final[str] = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _hex_id(value: str) -> bool:
    return 8 <= len(value) <= 64 and all(ch in "0123456789abcdef" for ch in value)


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:g}"


def _history(state: PortalState, who: Principal) -> list[IngestRecord]:
    """The site's own uploads; the evaluation team sees every site's."""
    return upload_history(state.settings, who.site_id if who.role == "site" else None)


def _result_page(request: Request, who: Principal, report: IngestReport,
                 history: list[IngestRecord], received: dt.datetime | None = None) -> HTMLResponse:  # fmt: skip
    headline, meaning = status_words(report.status)
    if report.status == "duplicate" and report.earlier is not None:
        meaning = (f"This exact file was received on {_when(report.earlier.received_at)} and "
                   "loaded then, so there was nothing new to load.")  # fmt: skip
    if report.status == "refused" and report.problems:
        meaning = (
            f"{meaning} {report.problems[0].expected[:1].upper()}{report.problems[0].expected[1:]}."
        )
    if report.verdict:
        meaning = "Nothing from this file was loaded."
    status = 422 if report.status in {"refused", "rejected"} else 200
    faults = [p for p in report.problems if p.reason not in NOTE_REASONS]
    groups = group_problems(faults)
    notes = group_problems([p for p in report.problems if p.reason in NOTE_REASONS])
    rows_with_problems = len({(p.sheet, p.row) for p in faults if p.row is not None})
    return page(request, "result.html", status, who=who, report=report, headline=headline,
                max_mb=_mb(request.app.state.portal.settings.max_upload_bytes),
                meaning=meaning, groups=groups[:MAX_GROUPS_SHOWN], faults=len(faults),
                hidden=max(0, len(groups) - MAX_GROUPS_SHOWN), notes=notes[:MAX_GROUPS_SHOWN],
                rows_with_problems=rows_with_problems, history=history,
                status_words=status_words, received=received)  # fmt: skip


def _too_many_sign_ins(request: Request, wait: float) -> HTMLResponse:
    minutes = max(1, round(wait / 60))
    response = refuse(request, 429, "There have been too many sign-in attempts from this "
                      f"computer. Please wait {minutes} minute{'s' if minutes > 1 else ''} "
                      "and try again.", event="login")  # fmt: skip
    response.headers["Retry-After"] = str(int(wait) + 1)
    return response


DAMAGED_WORDS: Final[str] = (
    "reval's data store needs repair, so this page cannot be shown. Nothing you sent was "
    "lost; the evaluation team has been told what to do ('reval check', 'reval rebuild')."
)


def _busy_words(error: WarehouseBusyError) -> str:
    """Busy, try again in a minute: said within ``portal_busy_seconds``, not after the
    two minutes a command-line ingest would wait."""
    job = "" if error.holder is None else f" ({error.holder.command})"
    return f"reval is busy with another job{job}: busy, try again in a minute."


def _csrf_refusal(request: Request, who: Principal | None) -> HTMLResponse:
    return refuse(request, 403, "This form had expired or did not come from this portal, so it "
                  "was not accepted. Go back, reload the page and try again.", event="csrf",
                  who=who, title="Form expired")  # fmt: skip


def _add_error_pages(app: FastAPI, state: PortalState) -> None:
    """Every error is a plain page: no stack trace, no framework JSON."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        messages = {404: "There is no page at this address.",
                    405: "That address cannot be used this way."}  # fmt: skip
        message = messages.get(error.status_code, "That request could not be handled.")
        return refuse(request, error.status_code, message, event="http_error",
                      who=current_user(request))  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> Response:
        return refuse(request, 400, "That request was not complete.", event="http_error")

    @app.exception_handler(WarehouseBusyError)
    async def busy(request: Request, error: WarehouseBusyError) -> Response:
        return refuse(request, 503, f"{_busy_words(error)} Nothing was lost.",
                      event="http_error")  # fmt: skip

    @app.exception_handler(WarehouseDamagedError)
    async def damaged(request: Request, error: WarehouseDamagedError) -> Response:
        return refuse(request, 503, DAMAGED_WORDS, event="http_error", error=error.what)

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> Response:
        if type(error).__module__.startswith(("duckdb", "_duckdb")):  # damaged, found mid-read
            return refuse(request, 503, DAMAGED_WORDS, event="http_error",
                          error=type(error).__name__)  # fmt: skip
        state.audit.write("server_error", client=client_of(request), outcome="error",
                          path=request.url.path, error=type(error).__name__)  # fmt: skip
        html = state.pages.get_template("error.html").render(
            who=None, csrf="", path=request.url.path, title="Something went wrong",
            message="reval could not finish this request. Nothing you sent was lost; please "
            "try again, and tell the evaluation team if it keeps happening.")  # fmt: skip
        return HTMLResponse(html, status_code=500)


class SecurityHeaders:
    """Headers every response carries unless it sets its own (reports set their CSP)."""

    HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
        (b"content-security-policy", PAGE_CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self.HEADERS if n not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add_headers)


@contextlib.contextmanager
def running_portal(settings: Settings, host: str = "127.0.0.1") -> Iterator[str]:
    """The real portal (uvicorn) on a free port in a background thread; yields its base
    URL. For the browser test and the load test: the same server ``reval portal`` runs."""
    import socket
    import threading

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    config = uvicorn.Config(create_app(settings), log_level="warning", server_header=False,
                            proxy_headers=False, timeout_graceful_shutdown=5)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the portal did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the portal with uvicorn until stopped (``reval portal``)."""
    import uvicorn

    from reval.pipeline import init_workspace

    init_workspace(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.portal_host,
        port=port or settings.portal_port,
        proxy_headers=True,
        forwarded_allow_ips=settings.portal_forwarded_allow_ips,
        server_header=False,
        log_level="info",
    )
