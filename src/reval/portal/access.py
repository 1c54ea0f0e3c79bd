"""Who may use the portal: access tokens, stored only as slow hashes.

A token reads ``<token id>.<secret>``. The id is short, random and not secret: it
finds the one stored row, so a sign-in costs one Argon2 verification, not one per
token. The secret is ``secrets.token_urlsafe(32)``, shown once when the token is made
and never written anywhere; the store keeps its Argon2id hash. The store is a small
JSON file in the workspace (mode 0600), rewritten atomically under a file lock so the
CLI and a running portal can both change it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final, Generic, Literal, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from filelock import FileLock

from reval.errors import RevalError

Role = Literal["site", "funder", "admin"]
ROLES: Final[tuple[Role, ...]] = ("site", "funder", "admin")
SITE_ID: Final[re.Pattern[str]] = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")
"""The contract's site_id rule (schemas/sites.yaml)."""
TOKEN_ID_BYTES: Final[int] = 6
TOKEN_SHAPE: Final[re.Pattern[str]] = re.compile(r"^([0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})$")
HASHER: Final[PasswordHasher] = PasswordHasher()
"""argon2-cffi's defaults (Argon2id, RFC 9106 low-memory profile): ~50 ms a check."""
_DUMMY_HASH: Final[str] = HASHER.hash("not a token")
R = TypeVar("R")


class AccessError(RevalError):
    """A token cannot be made or changed as asked."""


@dataclass(frozen=True)
class Principal:
    """Who is signed in: what the session carries and every check reads."""

    token_id: str
    role: Role
    site_id: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """How pages and the audit log name this user (never the secret)."""
        if self.role == "site":
            return f"site {self.site_id}"
        return f"{self.role} {self.name}" if self.name else self.role

    def may_upload(self) -> bool:
        return self.role in {"site", "admin"}

    def may_see_site(self, site_id: str | None) -> bool:
        """Raw data of one site: its own uploads, history and rows to fix."""
        return self.role == "admin" or (self.role == "site" and site_id == self.site_id)


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    role: Role
    site_id: str | None
    name: str | None
    hash: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def principal(self) -> Principal:
        return Principal(self.token_id, self.role, self.site_id, self.name)


class TokenStore:
    """Hashed access tokens in ``<workspace>/portal/tokens.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = FileLock(str(path) + ".lock", thread_local=False)
        self._file = RecordFile(path, "tokens", "token_id", TokenRecord)

    def create(self, role: Role, *, site_id: str | None = None, name: str | None = None) -> str:
        """Make a token and return it in full: the only time it is ever seen."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # before the lock file
        if role not in ROLES:
            raise AccessError(f"Unknown role {role!r}: use one of {', '.join(ROLES)}.")
        if role == "site" and (site_id is None or not SITE_ID.match(site_id)):
            raise AccessError(
                f"{site_id!r} is not a site id: lower-case letters, digits, hyphens and "
                "underscores, starting with a letter or digit (for example halton-wellbeing)."
            )
        if role != "site":
            site_id = None
        token_id = secrets.token_hex(TOKEN_ID_BYTES)
        secret = secrets.token_urlsafe(32)
        token = f"{token_id}.{secret}"
        record = TokenRecord(token_id, role, site_id, (name or None), HASHER.hash(token),
                             _now())  # fmt: skip
        with self._lock:
            records = self._read()
            records[token_id] = record
            self._write(records)
        return token

    def revoke(self, token_id: str) -> TokenRecord:
        """Stop a token working at once: every session signed in with it is ended too."""
        with self._lock:
            records = self._read()
            record = records.get(token_id)
            if record is None:
                raise AccessError(
                    f"No token has the id {token_id!r}; 'reval sites list' shows them."
                )
            if record.active:
                record = TokenRecord(**{**asdict(record), "revoked_at": _now()})
                records[token_id] = record
                self._write(records)
        SessionStore(self.path.with_name(SESSIONS_FILE)).end_for_token(token_id)
        return record

    def records(self) -> list[TokenRecord]:
        return sorted(self._read().values(), key=lambda r: (r.role, r.site_id or "", r.created_at))

    def verify(self, token: str) -> Principal | None:
        """The principal a presented token stands for, or None (same cost either way)."""
        match = TOKEN_SHAPE.match(token.strip())
        record = self._read().get(match[1]) if match else None
        try:
            HASHER.verify(record.hash if record else _DUMMY_HASH, token.strip())
        except (VerificationError, InvalidHashError):
            return None
        if record is None or not record.active:
            return None
        return record.principal()

    def active(self, token_id: str) -> Principal | None:
        """The principal of a still-valid token id (checked on every signed-in request)."""
        record = self._read().get(token_id)
        return record.principal() if record is not None and record.active else None

    def _read(self) -> dict[str, TokenRecord]:
        return self._file.read()

    def _write(self, records: dict[str, TokenRecord]) -> None:
        self._file.write(records)


SESSIONS_FILE: Final[str] = "sessions.json"


@dataclass(frozen=True)
class SessionRecord:
    """One sign-in, as the server keeps it: the cookie carries only the session id, so
    ending the record (sign-out, revocation, expiry) ends the session whatever copies of
    the cookie exist."""

    id_hash: str
    """SHA-256 of the session id: the file never holds an id that would work."""
    token_id: str
    started_at: str
    """UTC, ISO 8601."""

    def age_seconds(self) -> float:
        started = dt.datetime.fromisoformat(self.started_at)
        return (dt.datetime.now(dt.UTC) - started).total_seconds()


class SessionStore:
    """Signed-in sessions in ``<workspace>/portal/sessions.json`` (0600), shared by the
    portal and the CLI (``reval sites revoke`` ends a token's sessions) under a file lock."""

    def __init__(self, path: Path, hours: float = 8.0) -> None:
        self.path = path
        self.hours = hours
        self._lock = FileLock(str(path) + ".lock", thread_local=False)
        # one FileLock object is re-entrant across threads: the portal's threads also
        # need a lock of their own, or two sign-ins at once lose one session
        self._threads = threading.Lock()
        self._file = RecordFile(path, "sessions", "id_hash", SessionRecord)

    def start(self, token_id: str) -> str:
        """A new session for a token; returns its id (for the signed cookie only)."""
        session_id = secrets.token_urlsafe(32)
        started = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        record = SessionRecord(_digest(session_id), token_id, started)
        self._change(lambda records: records.__setitem__(record.id_hash, record))
        return session_id

    def find(self, session_id: object) -> SessionRecord | None:
        """The live session with this id, or None (unknown, ended, or older than ``hours``)."""
        if not isinstance(session_id, str) or not session_id:
            return None
        record = self._read().get(_digest(session_id))
        if record is None or record.age_seconds() > self.hours * 3600:
            return None
        return record

    def end(self, session_id: object) -> None:
        if isinstance(session_id, str) and session_id:
            self._change(lambda records: records.pop(_digest(session_id), None))

    def end_for_token(self, token_id: str) -> int:
        """End every session of one token (it was revoked); returns how many there were."""
        ended: list[str] = []

        def drop(records: dict[str, SessionRecord]) -> None:
            ended.extend(k for k, r in records.items() if r.token_id == token_id)
            for key in ended:
                del records[key]

        self._change(drop)
        return len(ended)

    def _change(self, change: object) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._threads, self._lock:
            records = self._read()
            change(records)  # type: ignore[operator]
            live = {k: r for k, r in records.items() if r.age_seconds() <= self.hours * 3600}
            self._file.write(live)

    def _read(self) -> dict[str, SessionRecord]:
        return self._file.read()


class RecordFile(Generic[R]):
    """Records kept as a list in a small JSON file (``{section: [...]}``, mode 0600), each
    found by its ``key`` field. Both stores are read on every signed-in request, so the
    file is parsed again only when it changed (its inode, modification time or size)."""

    def __init__(self, path: Path, section: str, key: str, record: Callable[..., R]) -> None:
        self.path = path
        self.section = section
        self.key = key
        self.record = record
        self._cache: tuple[tuple[int, int, int], dict[str, R]] | None = None

    def read(self) -> dict[str, R]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._cache is not None and self._cache[0] == key:
            return dict(self._cache[1])
        rows = json.loads(self.path.read_text(encoding="utf-8"))[self.section]
        records = {row[self.key]: self.record(**row) for row in rows}
        self._cache = (key, records)
        return dict(records)

    def write(self, records: dict[str, R]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private_json(self.path, {self.section: [asdict(r) for r in records.values()]})
        self._cache = None


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _write_private_json(path: Path, content: object) -> None:
    """Write ``content`` atomically into a 0600 file (a unique temporary name: two
    processes writing at once never share one)."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
