"""Issue 17 / issue 15, NHS numbers anywhere in a value are masked before anything keeps them.

Before the fix masking caught only a cell that was wholly a number: "my NHS number is
943 476 5919" in a story, ``R-9434765919`` as a response id and a file named
``9434765919.csv`` were stored, shown and written to ``audit.log`` and
``ingests.original_filename``, and the archive kept the raw file in clear.

The test uploads such files through the portal, the CLI and the inbox, then searches
every file under the one_site (the DuckDB file decoded through queries, zip packages
unpacked, every other file's raw bytes) for any ten-digit modulus-11 number, with or
without spaces or dashes.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from reval.cli import app as cli_app
from reval.config import Settings
from reval.identifiers import is_nhs_number, mask_nhs_numbers, nhs_number_spans
from reval.pipeline import ingest_file, ingest_inbox_file
from reval.portal import create_app
from reval.portal.access import TokenStore
from reval.warehouse import Warehouse

SITE = "gm_cancer"
PLANTED = ("9434765919", "4010232137", "4505577104")
assert all(is_nhs_number(n) for n in PLANTED)
EVENTS = "site_id,event_date,event_type,phase,description\n"


def spellings(number: str) -> list[str]:
    return [
        number,
        f"{number[:3]} {number[3:6]} {number[6:]}",
        f"{number[:3]}-{number[3:6]}-{number[6:]}",
    ]


def events_csv(*descriptions: str) -> bytes:
    rows = [
        f"{SITE},2017-03-{i + 1:02d},meeting,emergence,{d}\n" for i, d in enumerate(descriptions)
    ]
    return (EVENTS + "".join(rows)).encode()


def workbook_with_numbers() -> bytes:
    """A sheet named after an NHS number, a numeric cell and a text cell holding one."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "events"
    sheet.append(["site_id", "event_date", "event_type", "phase", "description"])
    sheet.append([SITE, "2017-04-01", "meeting", "emergence", 4010232137])
    sheet.append([SITE, "2017-04-02", "meeting", "emergence", "call 401-023-2137 back"])
    sheet.append([SITE, "2017-04-03", "meeting", "emergence", "a clean row"])
    other = book.create_sheet("4505577104")
    other.append(["note"])
    other.append(["nothing here"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def texts_under(home: Path) -> dict[str, str]:
    """Every file under the one_site as text: DuckDB files through queries, zips unpacked,
    everything else as its raw bytes (latin-1, so no byte is lost)."""
    found: dict[str, str] = {}
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found[str(path)] = data.decode("latin-1")
        if path.suffix == ".duckdb":
            con = duckdb.connect(str(path), read_only=True)
            try:
                tables = [
                    r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
                ]
                cells = [
                    str(value)
                    for table in tables
                    for row in con.execute(f'SELECT * FROM "{table}"').fetchall()
                    for value in row
                ]
            finally:
                con.close()
            found[f"{path} (decoded)"] = "\n".join(cells)
        elif data.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(io.BytesIO(data)) as package:
                for member in package.namelist():
                    found[f"{path}!{member}"] = package.read(member).decode("latin-1")
    return found


REVAL_HEX_IDS = re.compile(r"[0-9a-f]{16,}")
"""reval's own identifiers and digests (ingest ids, run ids, sha256 of files) as they lie in
the warehouse and the logs: random hexadecimal, so one in a few hundred holds ten decimal
digits in a row that pass the modulus-11 check by chance (the test failed once that way,
on "...b8c3173466756" in the DuckDB file's bytes). Such digits are not an upload's."""


def without_reval_ids(text: str) -> str:
    """``text`` with reval's hexadecimal identifiers blanked (same length, so positions in
    failure messages still point at the file): the finder then looks at uploaded content
    only. The planted numbers are still searched for verbatim in the original text."""
    return REVAL_HEX_IDS.sub(
        lambda m: "x" * len(m.group()) if re.search("[a-f]", m.group()) else m.group(), text
    )


def test_reval_ids_are_blanked_but_uploaded_numbers_are_not() -> None:
    digest = "180668baa2ef9b8c3173466756"  # the digest whose digits once passed the check
    assert nhs_number_spans(digest) != []
    assert nhs_number_spans(without_reval_ids(digest)) == []
    story = "my NHS number is 943 476 5919, ref 9434765919"
    assert without_reval_ids(story) == story


def assert_no_nhs_number(texts: dict[str, str]) -> None:
    for where, text in texts.items():
        for number in PLANTED:
            for spelling in spellings(number):
                assert spelling not in text, (where, spelling)
        text = without_reval_ids(text)
        spans = nhs_number_spans(text)
        assert spans == [], (where, [text[a - 20 : b + 20] for a, b in spans])


def test_the_finder_sees_numbers_inside_text_and_nothing_else() -> None:
    assert (
        mask_nhs_numbers("my NHS number is 943 476 5919") == "my NHS number is [NHS number removed]"
    )
    assert mask_nhs_numbers("R-9434765919") == "R-[NHS number removed]"
    assert mask_nhs_numbers("9434765919.csv") == "[NHS number removed].csv"
    assert mask_nhs_numbers("two: 943-476-5919 and 401 023 2137") == (
        "two: [NHS number removed] and [NHS number removed]"
    )
    for harmless in ("9434765918", "0.9434765919", "19434765919", "2026-12-03 18:12:17.123456",
                     "0.6666666666666666", hashlib.sha256(b"9434765919").hexdigest()):  # fmt: skip
        assert mask_nhs_numbers(harmless) == harmless


def test_no_nhs_number_survives_anywhere_in_the_workspace(
    one_site: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = TokenStore(one_site.portal_dir / "tokens.json").create("site", site_id=SITE)
    story = events_csv("my NHS number is 943 476 5919", "a clean meeting")
    survey = (
        "response_id,respondent_id,site_id,wave,response_date\n"
        f"R-9434765919,P1,{SITE},1,2017-01-01\n"
    ).encode()
    pages: list[str] = []
    downloads: list[str] = []
    with TestClient(create_app(one_site), follow_redirects=False) as client:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)[1]  # type: ignore[index]
        assert client.post("/login", data={"token": token, "csrf_token": csrf}).status_code == 303
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)[1]  # type: ignore[index]
        for name, content in (("events.csv", story), ("survey_responses.csv", survey),
                              ("9434765919.csv", events_csv("named after a number")),
                              ("events.xlsx", workbook_with_numbers())):  # fmt: skip
            response = client.post("/upload", data={"csrf_token": csrf},
                                   files={"file": (name, content, "application/octet-stream")})  # fmt: skip
            assert response.status_code in {200, 422}, response.text[-500:]
            pages.append(response.text)
            ingest_id = re.search(r"upload ([0-9a-f]{32})", response.text)[1]  # type: ignore[index]
            fixes = client.get(f"/uploads/{ingest_id}/fixes.xlsx")
            if fixes.status_code == 200:
                with zipfile.ZipFile(io.BytesIO(fixes.content)) as package:
                    downloads += [package.read(m).decode("latin-1") for m in package.namelist()]
        pages.append(client.get("/").text)  # the upload history
    assert "my NHS number is [NHS number removed]" in pages[0]
    assert "R-[NHS number removed]" in pages[1]
    assert "NHS number removed.csv" in pages[2]
    # the CLI and the nightly inbox, the same
    monkeypatch.setenv("REVAL_HOME", str(one_site.home))
    cli_file = tmp_path / "4505577104 events.csv"
    cli_file.write_bytes(events_csv("ring 450 557 7104 please"))
    result = CliRunner().invoke(cli_app, ["ingest", str(cli_file)])
    assert "450 557 7104" not in result.output
    assert "4505577104" not in result.output
    inbox_file = one_site.inbox_dir / "events-9434765919.csv"
    inbox_file.write_bytes(events_csv("inbox story 943-476-5919", "fine"))
    report = ingest_inbox_file(one_site, inbox_file)
    assert report.status == "partly_loaded"
    assert_no_nhs_number({f"page {i}": page for i, page in enumerate(pages + downloads)})
    assert_no_nhs_number(texts_under(one_site.home))


def test_the_archive_keeps_a_redacted_copy_named_by_the_original_hash(
    one_site: Settings, tmp_path: Path
) -> None:
    content = events_csv("my NHS number is 943 476 5919", "a clean meeting")
    path = tmp_path / "events.csv"
    path.write_bytes(content)
    sha = hashlib.sha256(content).hexdigest()
    first = ingest_file(one_site, path)
    assert first.sha256 == sha  # lineage keeps the original's hash
    assert first.status == "partly_loaded"
    (archived,) = (one_site.archive_dir / sha[:2]).glob(f"{sha}*")
    assert archived.name == f"{sha}.redacted.csv"
    assert archived.read_bytes() == content.replace(b"943 476 5919", b"[NHS number removed]")
    again = ingest_file(one_site, path)
    assert again.status == "duplicate"  # same file twice: still recognised by its hash
    # reading the redacted copy again gives the answer the original got
    elsewhere = Settings(home=tmp_path / "replay")
    sites = one_site.home.parent / "sites.csv"
    assert ingest_file(elsewhere, sites).status == "loaded"
    replay = ingest_file(elsewhere, archived, "events.csv")
    assert [p.reason for p in replay.problems] == [p.reason for p in first.problems]
    with Warehouse(one_site.warehouse_path, read_only=True) as warehouse:
        record = warehouse.ingest(first.ingest_id)
        rejected = warehouse.rejected(first.ingest_id)
    assert record is not None
    assert record.archive_path == str(archived)
    assert "[NHS number removed]" in rejected["cells"].iloc[0]


def test_a_workbook_copy_stays_a_workbook_with_the_numbers_masked(
    one_site: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "events.xlsx"
    path.write_bytes(workbook_with_numbers())
    report = ingest_file(one_site, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    (archived,) = (one_site.archive_dir / sha[:2]).glob(f"{sha}*")
    assert archived.name.endswith(".redacted.xlsx")
    book = openpyxl.load_workbook(archived)
    assert book.sheetnames == ["events", "NHS number removed"]
    cells = [c.value for c in book["events"]["E"]]
    assert cells == [
        "description",
        "[NHS number removed]",
        "call [NHS number removed] back",
        "a clean row",
    ]
    assert {(p.row, p.reason) for p in report.problems} >= {(2, "personal_identifier"),
                                                            (3, "personal_identifier")}  # fmt: skip
    assert report.rows_accepted == 1
