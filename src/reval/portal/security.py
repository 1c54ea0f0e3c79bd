"""The portal's own guards: the cookie-signing secret, sign-in rate limits, CSRF tokens,
the audit log, and upload file names.

Kept apart from the routes so each rule is one small, testable function.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import secrets
import threading
import time
import unicodedata
from collections import deque
from pathlib import Path
from typing import Final

from reval.portal.access import Principal

MAX_FILENAME_CHARS: Final[int] = 200


def session_secret(path: Path) -> str:
    """The key that signs session cookies: made on first run into a 0600 file in the
    workspace (never in code, never in the environment), then read back."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
    return secret


class LoginLimiter:
    """At most ``attempts`` failed sign-ins per client within ``window`` seconds.

    An attempt takes a slot *before* its token is checked (the check is a slow hash), so
    attempts sent at once cannot all slip past the count: with five slots, twenty wrong
    tokens at once get five checks and fifteen 429s. An attempt that finds every slot
    taken by checks still running waits for them (a correct token frees its slot; a wrong
    one turns it into a failure), so people signing in at once from one address are
    not refused for each other.

    In memory: one portal process serves the workspace, and a restart forgetting the
    count costs an attacker a restart they cannot cause."""

    def __init__(self, attempts: int, window: float, queue_seconds: float = 10.0) -> None:
        self.attempts = attempts
        self.window = window
        self.queue_seconds = queue_seconds
        self._failures: dict[str, deque[float]] = {}
        self._pending: dict[str, int] = {}
        self._changed = threading.Condition(threading.Lock())

    def wait_seconds(self, client: str) -> float:
        """0 when the client may try; else how long until it may."""
        now = time.monotonic()
        with self._changed:
            return self._refusal(self._recent(client, now), now)

    def reserve(self, client: str) -> float:
        """Take a slot for one attempt, atomically, before its token is checked: 0 when
        the attempt may go on to the check (then call :meth:`failed` or
        :meth:`succeeded`), else how long until the client may try again."""
        deadline = time.monotonic() + self.queue_seconds
        with self._changed:
            while True:
                now = time.monotonic()
                failures = self._recent(client, now)
                refusal = self._refusal(failures, now)
                if refusal:
                    return refusal
                if len(failures) + self._pending.get(client, 0) < self.attempts:
                    self._pending[client] = self._pending.get(client, 0) + 1
                    return 0.0
                if now >= deadline or not self._changed.wait(deadline - now):
                    return max(1.0, self.window - (now - failures[0]) if failures else 1.0)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._changed:
            self._release(client)
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:  # forget clients whose window has passed
                for key in [k for k, v in self._failures.items() if not v or v[-1] < now - self.window]:  # fmt: skip
                    del self._failures[key]
            self._changed.notify_all()

    def succeeded(self, client: str) -> None:
        with self._changed:
            self._release(client)
            self._failures.pop(client, None)
            self._changed.notify_all()

    def _release(self, client: str) -> None:
        left = self._pending.get(client, 0) - 1
        if left > 0:
            self._pending[client] = left
        else:
            self._pending.pop(client, None)

    def _refusal(self, failures: deque[float], now: float) -> float:
        if len(failures) < self.attempts:
            return 0.0
        return max(1.0, failures[0] + self.window - now)

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] < now - self.window:
            failures.popleft()
        return failures


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: object, given: object) -> bool:
    """Constant-time comparison of the session's CSRF token with the form's."""
    if not isinstance(expected, str) or not isinstance(given, str) or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def unsafe_filename_reason(name: str | None) -> str | None:
    """Why an uploaded file's name cannot be accepted, or None when it is fine.

    The name is never used as a path (uploads are received under a random name), but a
    name carrying folders, hidden characters or a leading dot is what an attack looks
    like, and it would end up in records and pages, so it is refused outright."""
    if name is None or not name.strip():
        return "the file has no name"
    if any(ch in name for ch in "/\\") or name.strip() in {".", ".."}:
        return "its name contains a folder path (/ or \\)"
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} for ch in name):
        return "its name contains hidden control characters"
    if name.startswith("."):
        return "its name starts with a dot (a hidden file)"
    if len(name) > MAX_FILENAME_CHARS:
        return f"its name is longer than {MAX_FILENAME_CHARS} characters"
    return None


class AuditLog:
    """One JSON line per event in ``<workspace>/portal/audit.log`` (mode 0600): sign-ins,
    uploads, downloads, report views and every refusal. Tokens are never written, only
    their non-secret ids."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, event: str, *, client: str, who: Principal | None = None,
              outcome: str = "ok", **detail: object) -> None:  # fmt: skip
        entry: dict[str, object] = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "outcome": outcome,
            "client": client,
        }
        if who is not None:
            entry.update(token_id=who.token_id, role=who.role, site_id=who.site_id)
        entry.update({k: v for k, v in detail.items() if v is not None})
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line)

    def entries(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
