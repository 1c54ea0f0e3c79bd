"""Issue 17, uploads: the same bytes from two sessions at once load exactly once.

Before the fix both requests archived through one shared ``<sha>.partial`` file: in 2 of 5
rounds both failed (500 or 400) and nothing was loaded, recorded or archived.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx

from reval.config import Settings
from reval.pipeline import archive_upload
from reval.portal.access import TokenStore
from reval.portal.app import running_portal
from reval.warehouse import Warehouse

SITE = "gm_cancer"
ROUNDS = 20


def sign_in(base: str, token: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)[1]  # type: ignore[index]
    assert client.post("/login", data={"token": token, "csrf_token": csrf}).status_code == 303
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)[1]  # type: ignore[index]
    return client, csrf


def test_the_same_bytes_from_two_sessions_at_once_load_exactly_once(one_site: Settings) -> None:
    store = TokenStore(one_site.portal_dir / "tokens.json")
    tokens = [store.create("site", site_id=SITE), store.create("admin", name="team")]
    with running_portal(one_site) as base:
        sessions = [sign_in(base, token) for token in tokens]
        for round_ in range(ROUNDS):
            content = (
                "site_id,event_date,event_type,phase,description\n"
                + "".join(f"{SITE},2017-{round_ % 12 + 1:02d}-{3 * (round_ // 12) + i + 1:02d},"
                          f"meeting,emergence,round {round_} meeting {i}\n" for i in range(3))
            ).encode()  # fmt: skip
            start = threading.Barrier(2)
            answers: list[httpx.Response] = [None, None]  # type: ignore[list-item]

            def send(i: int, content: bytes = content, start: threading.Barrier = start,
                     answers: list[httpx.Response] = answers) -> None:  # fmt: skip
                client, csrf = sessions[i]
                start.wait()
                answers[i] = client.post("/upload", data={"csrf_token": csrf},
                                         files={"file": ("events.csv", content, "text/csv")})  # fmt: skip

            threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert [a.status_code for a in answers] == [200, 200], [a.text[-400:] for a in answers]
            headlines = sorted(
                re.search(r'class="badge[^"]*big">([^<]+)<', a.text)[1]  # type: ignore[index]
                for a in answers
            )
            assert headlines == ["Accepted", "Already received"], (round_, headlines)
        for client, _ in sessions:
            client.close()
    with Warehouse(one_site.warehouse_path, read_only=True) as warehouse:
        ingests = warehouse.ingests()
        events = warehouse.current("events")
    uploads = ingests[ingests["original_filename"] == "events.csv"]
    assert sorted(uploads["status"].value_counts().items()) == [
        ("duplicate", ROUNDS),
        ("loaded", ROUNDS),
    ]
    assert len(events) == 3 * ROUNDS
    assert events["description"].is_unique
    archived = [p for p in one_site.archive_dir.rglob("*")
                if p.is_file() and p.name != "manifest.jsonl"]  # fmt: skip
    assert len(archived) == ROUNDS + 1  # every round's bytes once, and the sites file
    assert not [p for p in archived if ".partial" in p.name]
    assert not list((one_site.portal_dir / "incoming").glob("*"))


def test_archiving_the_same_bytes_twice_at_once_never_shares_a_temporary_file(
    one_site: Settings, tmp_path: Path
) -> None:
    """The archive step alone, 20 pairs of threads: each writes its own temporary file."""
    import hashlib

    for round_ in range(ROUNDS):
        source = tmp_path / f"upload-{round_}.csv"
        source.write_bytes(f"round {round_}\n".encode() * 50_000)
        sha = hashlib.sha256(source.read_bytes()).hexdigest()
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def archive(source: Path = source, sha: str = sha, start: threading.Barrier = start,
                    errors: list[BaseException] = errors) -> None:  # fmt: skip
            start.wait()
            try:
                archive_upload(one_site, source, sha, "events.csv")
            except BaseException as error:  # collected and asserted below
                errors.append(error)

        threads = [threading.Thread(target=archive) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        (stored,) = one_site.archive_dir.glob(f"{sha[:2]}/{sha}*")
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
