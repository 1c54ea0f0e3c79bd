"""Cookies an attacker can make or replay are refused: one signed with another key, one
whose content was changed, one older than the session lifetime (even with a live session
record behind it), and a cross-site form post that rides on a signed-in browser's cookie
with the attacker's own CSRF token."""

from __future__ import annotations

import json
import re
import time
from base64 import b64decode, b64encode
from collections.abc import Iterator

import itsdangerous
import pytest
from fastapi.testclient import TestClient

from reval.config import Settings
from reval.pipeline import init_workspace
from reval.portal import create_app
from reval.portal.access import TokenStore
from reval.portal.app import SESSION_COOKIE
from reval.portal.security import session_secret
from reval.warehouse import Warehouse

SITE = "gm_cancer"
EVENTS = b"site_id,event_date,event_type,phase,description\ngm_cancer,2017-02-01,meeting,emergence,cross-site row\n"


def _csrf(client: TestClient, url: str = "/") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text)[1]  # type: ignore[index]


@pytest.fixture
def portal(settings: Settings) -> Iterator[tuple[TestClient, TestClient, Settings]]:
    """A signed-in site browser and a second, attacker's browser on the same portal."""
    init_workspace(settings)
    token = TokenStore(settings.portal_dir / "tokens.json").create("site", site_id=SITE)
    app = create_app(settings)
    with (
        TestClient(app, follow_redirects=False, raise_server_exceptions=False) as browser,
        TestClient(app, follow_redirects=False, raise_server_exceptions=False) as attacker,
    ):
        signed_in = browser.post(
            "/login", data={"token": token, "csrf_token": _csrf(browser, "/login")}
        )
        assert signed_in.status_code == 303
        assert browser.get("/").status_code == 200
        yield browser, attacker, settings


def _session_of(browser: TestClient, settings: Settings) -> dict[str, str]:
    signer = itsdangerous.TimestampSigner(session_secret(settings.portal_dir / "session-secret"))
    return json.loads(b64decode(signer.unsign(browser.cookies[SESSION_COOKIE])))


def _cookie(session: dict[str, str], key: str, at: float | None = None) -> str:
    signer = itsdangerous.TimestampSigner(key)
    if at is not None:
        signer.get_timestamp = lambda: int(at)  # type: ignore[method-assign]
    return signer.sign(b64encode(json.dumps(session).encode())).decode()


def _signed_in(client: TestClient, cookie: str) -> bool:
    client.cookies.set(SESSION_COOKIE, cookie)
    return client.get("/").status_code == 200


def test_a_cookie_signed_with_another_key_is_refused(portal) -> None:  # type: ignore[no-untyped-def]
    browser, attacker, settings = portal
    session = _session_of(browser, settings)
    assert not _signed_in(attacker, _cookie(session, "a key the attacker chose"))
    key = session_secret(settings.portal_dir / "session-secret")
    assert _signed_in(attacker, _cookie(session, key))  # the same content, rightly signed, works


def test_a_cookie_with_changed_content_is_refused(portal) -> None:  # type: ignore[no-untyped-def]
    browser, attacker, _ = portal
    value = browser.cookies[SESSION_COOKIE]
    data, signature = value.split(".", 1)
    tampered = b64encode(
        json.dumps({**json.loads(b64decode(data)), "sid": "guessed"}).encode()
    ).decode()
    assert not _signed_in(attacker, f"{tampered}.{signature}")
    assert not _signed_in(attacker, data)  # no signature at all


def test_a_cookie_older_than_the_session_lifetime_is_refused(portal) -> None:  # type: ignore[no-untyped-def]
    browser, attacker, settings = portal
    session = _session_of(browser, settings)
    key = session_secret(settings.portal_dir / "session-secret")
    lifetime = settings.portal_session_hours * 3600
    assert not _signed_in(attacker, _cookie(session, key, at=time.time() - lifetime - 60))
    assert _signed_in(attacker, _cookie(session, key, at=time.time() - lifetime + 600))


def test_a_cross_site_post_with_the_attackers_own_csrf_token_is_refused(portal) -> None:  # type: ignore[no-untyped-def]
    browser, attacker, settings = portal
    theirs = _csrf(attacker, "/login")  # a valid token, but for the attacker's own session
    response = browser.post("/upload", data={"csrf_token": theirs},
                            files={"file": ("events.csv", EVENTS, "text/csv")},
                            headers={"origin": "https://evil.example", "referer": "https://evil.example/"})  # fmt: skip
    assert response.status_code == 403
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        events = warehouse.current("events")
    assert "cross-site row" not in set(events["description"])
