"""Issue 17, reader errors: every hostile file is a file-level problem said in plain words.

Each case here crashed before the fix (``_csv.Error: field larger than field limit``,
``python_calamine.XmlError``/``ZipError``, ``UnicodeDecodeError``, ``csv.Error``) or was
accepted silently (256 KiB of random bytes in the middle of a CSV). Now: the CLI prints
the reason without a traceback, the portal shows it (422, not 500), and the nightly inbox
moves the file to ``inbox/failed/`` with its ``.problems.txt`` while the files behind it
load.
"""

from __future__ import annotations

import io
import random
import re
import struct
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from reval.cli import app as cli_app
from reval.config import Settings
from reval.pipeline import ingest_file, ingest_inbox_file, waiting_files
from reval.portal import create_app
from reval.portal.access import TokenStore

SITES_CSV = (
    "site_id,site_name,care_model,region,start_date\n"
    "gm_cancer,GM Cancer,Test model,North West,2016-04-01\n"
)
HEADER = "site_id,event_date,event_type,phase,description"


def events_lines(rows: int, tag: str = "meeting") -> list[str]:
    return [HEADER] + [
        f"gm_cancer,2017-02-{i % 28 + 1:02d},meeting,emergence,{tag} {i}" for i in range(rows)
    ]


def long_cell_csv(chars: int, at_line: int = 3001, rows: int = 6000) -> bytes:
    """An events CSV whose line ``at_line`` has a description ``chars`` characters long."""
    lines = events_lines(rows)
    lines.insert(at_line - 1, "gm_cancer,2017-03-01,meeting,emergence," + "x" * chars)
    return ("\n".join(lines) + "\n").encode()


def random_middle_csv(seed: int = 1, *, no_nul: bool = False) -> tuple[bytes, int]:
    """6,000 events rows with 256 KiB of random bytes after the first 64 KiB (beyond what
    the file guard reads), and the line the damage starts on."""
    lines = events_lines(6000)
    data = ("\n".join(lines) + "\n").encode()
    cut = data.index(b"\n", len(data) // 2) + 1
    rng = random.Random(seed)
    noise = rng.randbytes(600 * 1024)
    if no_nul:
        noise = noise.replace(b"\x00", b"")
    return data[:cut] + noise[: 256 * 1024] + data[cut:], data[:cut].count(b"\n") + 1


def events_workbook(rows: int = 3000) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "events"
    for line in events_lines(rows):
        sheet.append(line.split(","))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def entry_larger_than_declared(workbook: bytes) -> bytes:
    """The sheet's declared unpacked size cut to a third (calamine's XmlError: 'File is
    larger than its declared uncompressed size')."""
    data = bytearray(workbook)
    at = data.find(b"PK\x01\x02")
    while at != -1:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == b"xl/worksheets/sheet1.xml":
            size = struct.unpack_from("<I", data, at + 24)[0]
            struct.pack_into("<I", data, at + 24, size // 3)
            local = struct.unpack_from("<I", data, at + 42)[0]
            struct.pack_into("<I", data, local + 22, size // 3)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def random_middle_workbook() -> bytes:
    good = events_workbook()
    middle = len(good) // 2
    return good[:middle] + random.Random(2).randbytes(256 * 1024) + good[middle:]


PAGE_WORDS: dict[str, str] = {
    "events.csv": "longer than the 32,767 characters reval accepts in one cell",
    "events_head.csv": "longer than the 32,767 characters reval accepts in one cell",
    "events_noise.csv": "holds a stretch of data that is not text",
    "events_noise_nonul.csv": "holds a stretch of data that is not text",
    "events_declared.xlsx": "is damaged or was not fully uploaded",
    "events_noise.xlsx": "is damaged or was not fully uploaded",
}
HOSTILE: dict[str, tuple[bytes, str]] = {
    # file name -> (bytes, words the reason must contain)
    "events.csv": (long_cell_csv(140_000), "row 3001, column description: '140,000 characters'"),
    "events_head.csv": (long_cell_csv(140_000, at_line=2, rows=5), "row 2, column description"),
    "events_noise.csv": (random_middle_csv()[0], "stretch of data that is not text"),
    "events_noise_nonul.csv": (random_middle_csv(no_nul=True)[0], "not text"),
    "events_declared.xlsx": (entry_larger_than_declared(events_workbook()), "damaged"),
    "events_noise.xlsx": (random_middle_workbook(), "damaged"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_file_is_refused_with_its_reason_and_nothing_loaded(
    one_site: Settings, tmp_path: Path, name: str
) -> None:
    content, words = HOSTILE[name]
    path = tmp_path / name
    path.write_bytes(content)
    report = ingest_file(one_site, path)
    assert report.status == "refused"
    assert report.rows_accepted == 0
    assert words in " ".join(p.message() for p in report.problems).casefold()
    assert all(p.reason in {"unreadable_file", "too_long"} for p in report.problems)


def test_a_cell_over_the_configured_size_is_named_and_a_bigger_limit_accepts_it(
    one_site: Settings, tmp_path: Path
) -> None:
    """40,000 characters: over Excel's 32,767 (the default) but under the csv module's own
    131,072, so only the configured limit stops it; raising the setting lets it in."""
    path = tmp_path / "events.csv"
    path.write_bytes(long_cell_csv(40_000, at_line=5, rows=20))
    report = ingest_file(one_site, path)
    assert report.status == "refused"
    (problem,) = report.problems
    assert (problem.row, problem.column, problem.reason) == (5, "description", "too_long")
    assert "32,767 characters" in problem.expected
    roomy = Settings(home=one_site.home, max_cell_chars=50_000)
    assert ingest_file(roomy, path).status == "loaded"


def test_the_csv_module_never_stops_at_its_own_field_limit(
    one_site: Settings, tmp_path: Path
) -> None:
    """A 200,000-character cell on the slow path (a blank line between records sends the
    file through the csv module) is named like any other, with the configured limit raised
    past it: loaded."""
    lines = events_lines(10)
    lines.insert(4, "gm_cancer,2017-03-01,meeting,emergence," + "y" * 200_000)
    lines.insert(7, "")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (problem,) = ingest_file(one_site, path).problems
    assert (problem.row, problem.column) == (5, "description")
    report = ingest_file(Settings(home=one_site.home, max_cell_chars=300_000), path)
    assert report.status == "loaded", report.problems


def test_random_bytes_in_the_middle_name_the_line_they_start_on(
    one_site: Settings, tmp_path: Path
) -> None:
    content, line = random_middle_csv()
    path = tmp_path / "events.csv"
    path.write_bytes(content)
    (problem,) = ingest_file(one_site, path).problems
    assert problem.value == f"line {line:,}"


def test_bytes_that_are_not_utf8_further_in_name_their_line(
    one_site: Settings, tmp_path: Path
) -> None:
    lines = events_lines(20_000)
    data = ("\n".join(lines) + "\n").encode()
    cut = data.index(b"\n", 300 * 1024) + 1  # past the 256 KiB head the encoding is judged on
    path = tmp_path / "events.csv"
    path.write_bytes(
        data[:cut] + b"gm_cancer,2017-02-01,meeting,emergence,caf\xe9 \xff\xfe\n" + data[cut:]
    )
    (problem,) = ingest_file(one_site, path).problems
    assert problem.reason == "unreadable_file"
    line = data[:cut].count(b"\n") + 1
    assert problem.value == f"line {line:,}"
    assert "not text in the same encoding" in problem.expected


def test_a_stray_line_break_on_the_slow_path_is_a_plain_problem(
    one_site: Settings, tmp_path: Path
) -> None:
    """A lone carriage return inside a field made the csv module raise ``csv.Error``."""
    text = "\n".join(events_lines(4)) + "\n\ngm_cancer,2017-02-01,meeting,emergence,a\rb\n"
    path = tmp_path / "events.csv"
    path.write_text(text, encoding="utf-8", newline="")
    (problem,) = ingest_file(one_site, path).problems
    assert problem.reason == "unreadable_file"
    assert "not a well-formed CSV file" in problem.expected


def test_the_cli_says_the_reason_without_a_traceback(
    one_site: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVAL_HOME", str(one_site.home))
    for name, (content, words) in HOSTILE.items():
        path = tmp_path / name
        path.write_bytes(content)
        result = CliRunner().invoke(cli_app, ["ingest", str(path)])
        assert result.exit_code == 1, (name, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
        assert "refused" in result.output
        assert words in result.output.casefold()


def test_the_portal_shows_the_reason_not_a_server_error(one_site: Settings) -> None:
    token = TokenStore(one_site.portal_dir / "tokens.json").create("site", site_id="gm_cancer")
    with TestClient(create_app(one_site), raise_server_exceptions=False,
                    follow_redirects=False) as client:  # fmt: skip
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
        assert client.post("/login", data={"token": token, "csrf_token": csrf}).status_code == 303
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)[1]  # type: ignore[index]
        for name, (content, _words) in HOSTILE.items():
            response = client.post("/upload", data={"csrf_token": csrf},
                                   files={"file": (name, content, "application/octet-stream")})  # fmt: skip
            assert response.status_code == 422, (name, response.status_code)
            assert "Refused" in response.text
            assert PAGE_WORDS[name] in response.text.casefold(), name


def test_the_inbox_moves_each_hostile_file_to_failed_and_loads_the_files_behind_it(
    one_site: Settings,
) -> None:
    inbox = one_site.inbox_dir
    for name, (content, _) in HOSTILE.items():
        (inbox / name).write_bytes(content)
    (inbox / "events_zz_good.csv").write_text("\n".join(events_lines(7, "good")) + "\n")
    reports = [ingest_inbox_file(one_site, path) for path in waiting_files(one_site)]
    assert [r.status for r in reports] == ["refused"] * len(HOSTILE) + ["loaded"]
    failed = inbox / "failed"
    for name, (_, words) in HOSTILE.items():
        (moved,) = failed.glob(f"*-{name}")
        reason = moved.with_name(moved.name + ".problems.txt").read_text(encoding="utf-8")
        assert words in reason.casefold()
    assert not list(inbox.glob("*.csv"))
    assert not list(inbox.glob("*.xlsx"))
    assert len(list((inbox / "processed").glob("*-events_zz_good.csv"))) == 1


def test_an_unexpected_error_in_one_inbox_file_sets_it_aside(
    one_site: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: even an error no reader foresaw moves the file to failed/."""
    import reval.pipeline as pipeline

    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("something nobody foresaw")

    (one_site.inbox_dir / "events.csv").write_text("\n".join(events_lines(3)) + "\n")
    monkeypatch.setattr(pipeline, "ingest_file", broken)
    report = ingest_inbox_file(one_site, one_site.inbox_dir / "events.csv")
    assert report.status == "refused"
    (moved,) = (one_site.inbox_dir / "failed").glob("*-events.csv")
    assert "KeyError" in moved.with_name(moved.name + ".problems.txt").read_text()


def test_a_warehouse_failure_is_not_blamed_on_the_inbox_file(
    one_site: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DuckDB error while loading is the warehouse's problem: the file stays in the inbox
    for the next run instead of being set aside as if it were bad."""
    import duckdb

    import reval.pipeline as pipeline

    def broken(*args: object, **kwargs: object) -> object:
        raise duckdb.IOException("Could not read enough bytes from file")

    inbox_file = one_site.inbox_dir / "events.csv"
    inbox_file.write_text("\n".join(events_lines(3)) + "\n")
    monkeypatch.setattr(pipeline, "ingest_file", broken)
    with pytest.raises(duckdb.IOException):
        ingest_inbox_file(one_site, inbox_file)
    assert inbox_file.is_file()
    assert not (one_site.inbox_dir / "failed").exists()
