"""Issue 17, sessions and sign-in: a sign-out ends every copy of the cookie, and the
failed-attempt counter is reserved before the slow token check.

Before the fix a cookie copied before sign-out still uploaded afterwards (the cookie was
the whole session), and 12 wrong tokens sent at once all got 401 (the count was read
before the ~50 ms Argon2 check and written after it).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

import reval.portal.access as access
from reval.config import Settings
from reval.portal import create_app
from reval.portal.access import SessionStore, TokenStore
from reval.portal.app import running_portal

SITE = "gm_cancer"
EVENTS = (
    b"site_id,event_date,event_type,phase,description\ngm_cancer,2017-02-01,meeting,emergence,x\n"
)


def csrf_of(client: TestClient | httpx.Client, url: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text)[1]  # type: ignore[index]


def sign_in(client: TestClient, token: str) -> int:
    return client.post(
        "/login", data={"token": token, "csrf_token": csrf_of(client, "/login")}
    ).status_code


@pytest.fixture
def portal(settings: Settings) -> Iterator[tuple[TestClient, TestClient, str, TokenStore]]:
    """Two browsers on one portal, and a site token."""
    store = TokenStore(settings.portal_dir / "tokens.json")
    token = store.create("site", site_id=SITE)
    app = create_app(settings)
    with (
        TestClient(app, follow_redirects=False, raise_server_exceptions=False) as one,
        TestClient(app, follow_redirects=False, raise_server_exceptions=False) as other,
    ):
        yield one, other, token, store


def test_a_cookie_copied_before_sign_out_is_dead_after_it(portal) -> None:  # type: ignore[no-untyped-def]
    browser, thief, token, _ = portal
    assert sign_in(browser, token) == 303
    thief.cookies.update(browser.cookies)  # a copy of the signed cookie
    csrf = csrf_of(thief, "/")  # the copy works while the session lives
    assert browser.post("/logout", data={"csrf_token": csrf_of(browser, "/")}).status_code == 303
    assert thief.get("/").headers["location"] == "/login"
    upload = thief.post("/upload", data={"csrf_token": csrf},
                        files={"file": ("events.csv", EVENTS, "text/csv")})  # fmt: skip
    assert upload.status_code == 401
    assert "Please sign in" in upload.text


def test_revoking_a_token_ends_its_session_records(portal, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    browser, other, token, store = portal
    assert sign_in(browser, token) == 303
    assert sign_in(other, token) == 303
    sessions = SessionStore(settings.portal_dir / "sessions.json")
    assert len(sessions._read()) == 2
    store.revoke(token.split(".")[0])  # what 'reval sites revoke' does, from another process
    assert sessions._read() == {}
    assert browser.get("/").headers["location"] == "/login"
    assert other.get("/").headers["location"] == "/login"


def test_the_session_file_holds_no_working_session_id(portal, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    browser, _, token, _ = portal
    assert sign_in(browser, token) == 303
    path = settings.portal_dir / "sessions.json"
    assert path.stat().st_mode & 0o777 == 0o600
    (record,) = SessionStore(path)._read().values()
    assert record.id_hash not in browser.cookies["reval_session"]


def test_a_session_expires_on_the_server_whatever_the_cookie_says(settings: Settings) -> None:
    store = SessionStore(settings.portal_dir / "sessions.json", hours=1)
    session_id = store.start("abc123abc123")
    assert store.find(session_id) is not None
    later = SessionStore(store.path, hours=0)
    assert later.find(session_id) is None


class CountingHasher:
    """Argon2 as before, counting the checks that reach it."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.checks = 0
        self._lock = threading.Lock()

    def verify(self, hash_: str, password: str) -> bool:
        with self._lock:
            self.checks += 1
        return self.real.verify(hash_, password)  # type: ignore[attr-defined]

    def hash(self, password: str) -> str:
        return self.real.hash(password)  # type: ignore[attr-defined]


def test_twenty_wrong_tokens_at_once_reach_the_hash_at_most_five_times(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = TokenStore(settings.portal_dir / "tokens.json").create("site", site_id=SITE)
    hasher = CountingHasher(access.HASHER)
    monkeypatch.setattr(access, "HASHER", hasher)
    assert settings.portal_login_attempts == 5
    with running_portal(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        csrf = csrf_of(client, "/login")
        start = threading.Barrier(20)
        codes: list[int] = []
        wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

        def attempt() -> None:
            start.wait()
            response = client.post("/login", data={"token": wrong, "csrf_token": csrf})
            codes.append(response.status_code)

        threads = [threading.Thread(target=attempt) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert hasher.checks <= 5
        assert sorted(codes) == [401] * hasher.checks + [429] * (20 - hasher.checks)
        assert codes.count(401) == 5  # the five allowed attempts were each checked
        right = client.post("/login", data={"token": token, "csrf_token": csrf})
        assert right.status_code == 429  # even the right token waits out the window
    assert hasher.checks == 5


def test_a_success_clears_the_reservation(settings: Settings) -> None:
    token = TokenStore(settings.portal_dir / "tokens.json").create("site", site_id=SITE)
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as client:
        for _ in range(4):
            response = client.post(
                "/login", data={"token": "nope", "csrf_token": csrf_of(client, "/login")}
            )
            assert response.status_code == 401
        assert sign_in(client, token) == 303
        client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
        for _ in range(5):
            response = client.post(
                "/login", data={"token": "nope", "csrf_token": csrf_of(client, "/login")}
            )
            assert response.status_code == 401
        assert sign_in(client, token) == 429


def test_sessions_survive_a_portal_restart_but_not_a_sign_out(
    settings: Settings, tmp_path: Path
) -> None:
    token = TokenStore(settings.portal_dir / "tokens.json").create("site", site_id=SITE)
    with TestClient(create_app(settings), follow_redirects=False) as first:
        assert sign_in(first, token) == 303
        cookies = dict(first.cookies)
    with TestClient(create_app(settings), follow_redirects=False) as restarted:
        restarted.cookies.update(cookies)
        assert restarted.get("/").status_code == 200


def test_twelve_people_signing_in_at_once_from_one_address_all_get_in(settings: Settings) -> None:
    """Slots are taken before the check, but right tokens free theirs: nobody is refused
    for the others, and no session is lost to another written at the same moment."""
    store = TokenStore(settings.portal_dir / "tokens.json")
    tokens = [store.create("site", site_id=SITE) for _ in range(12)]
    with running_portal(settings) as base:
        start = threading.Barrier(12)
        homes: list[int] = []

        def person(token: str) -> None:
            with httpx.Client(base_url=base, timeout=60) as client:
                csrf = csrf_of(client, "/login")
                start.wait()
                client.post("/login", data={"token": token, "csrf_token": csrf})
                homes.append(client.get("/", follow_redirects=False).status_code)

        threads = [threading.Thread(target=person, args=(t,)) for t in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert homes == [200] * 12
    assert len(SessionStore(settings.portal_dir / "sessions.json")._read()) == 12
