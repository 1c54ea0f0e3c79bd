"""Uploads are judged by their bytes before any parser sees them, and every refusal
says, in plain words, what is wrong and what the coordinator should do next.

Every file is built here in tmp_path: real workbooks from openpyxl and pandas (odf),
zips and OLE2 compound files crafted byte by byte.
"""

from __future__ import annotations

import builtins
import struct
import zipfile
from pathlib import Path

import olefile
import openpyxl
import pandas as pd
import pytest

from reval.ingest.file_guards import inspect_upload
from reval.ingest.problems import Problem

MB = 1024 * 1024
MAX_BYTES = 25 * MB
MAX_UNPACKED = 200 * MB
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _inspect(
    path: Path, name: str | None = None, **limits: int
) -> tuple[str | None, list[Problem]]:
    limits = {"max_bytes": MAX_BYTES, "max_unpacked_bytes": MAX_UNPACKED, **limits}
    return inspect_upload(path, name or path.name, **limits)


def _refused(path: Path, name: str | None = None, **limits: int) -> Problem:
    """The single problem a refused file gets, checked for the shape every refusal shares."""
    _, problems = _inspect(path, name, **limits)
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.file == (name or path.name)
    assert (problem.sheet, problem.row, problem.column) == (None, None, None)
    # message() capitalises its first letter, so the file name is compared folded
    assert problem.message().casefold().startswith(problem.file.casefold())
    assert problem.message().removesuffix(".").endswith(problem.expected.removesuffix("."))
    return problem


# --- builders -------------------------------------------------------------------------------


def _xlsx(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "sites"
    sheet.append(["site_id", "site_name"])
    sheet.append(["stockport_together", "Stockport Together"])
    workbook.save(path)
    return path


def _ods(path: Path) -> Path:
    frame = pd.DataFrame({"site_id": ["stockport_together"], "site_name": ["Stockport Together"]})
    frame.to_excel(path, sheet_name="sites", index=False, engine="odf")
    return path


def _rezip(
    source: Path, target: Path, *, add: dict[str, bytes] | None = None, edit: dict | None = None
) -> Path:
    """A copy of a zip package with entries added or their text edited (old -> new)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if edit and info.filename in edit:
                before, after = edit[info.filename]
                assert before in data
                data = data.replace(before, after)
            new.writestr(info, data)
        for entry, data in (add or {}).items():
            new.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED)
    return target


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    return path


def _compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (version 3, 512-byte sectors) holding ``streams``.

    olefile can read but not write, and msoffcrypto-tool is not installed, so the
    container Excel wraps an encrypted .xlsx in is built here by hand. Streams are
    padded to the 4096-byte mini-stream cutoff so they live in ordinary sectors and
    no mini FAT is needed. Layout: header, FAT (sector 0), directory (sector 1), data.
    """
    sector, free, end, fat_marker, no_stream = 512, 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    assert len(streams) <= 3, "one directory sector holds the root and three streams"
    fat = [fat_marker, end]
    data, starts = b"", []
    for content in streams.values():
        padded = content.ljust(max(4096, -(-len(content) // sector) * sector), b"\0")
        first, count = len(fat), len(padded) // sector
        starts.append((first, len(content)))
        fat += [*range(first + 1, first + count), end]
        data += padded
    assert len(fat) <= sector // 4
    fat_sector = struct.pack(f"<{sector // 4}I", *fat, *[free] * (sector // 4 - len(fat)))

    def entry(name: str, kind: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return struct.pack(
            "<64sHBBIII16sIQQIQ",
            encoded, len(encoded), kind, 1, no_stream, right, child, b"", 0, 0, 0, start, size,
        )  # fmt: skip

    names = list(streams)
    directory = entry("Root Entry", 5, no_stream, 1 if names else no_stream, end, 0)
    for index, name in enumerate(names):
        right = index + 2 if index + 1 < len(names) else no_stream
        directory += entry(name, 2, right, no_stream, *starts[index])
    directory = directory.ljust(sector, b"\0")  # unused entries: all zero (type 'empty')
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        OLE2_MAGIC, b"", 0x3E, 3, 0xFFFE, 9, 6, b"", 0, 1, 1, 0, 4096, end, 0, end, 0,
    )  # fmt: skip
    header += struct.pack("<109I", 0, *[free] * 108)
    return header + fat_sector + directory + data


def _zeros_entry(archive: zipfile.ZipFile, entry: str, size: int) -> None:
    """Stream ``size`` zero bytes into a deflated entry without holding them in memory."""
    chunk = bytes(MB)
    info = zipfile.ZipInfo(entry)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w") as handle:
        for _ in range(size // MB):
            handle.write(chunk)


# --- healthy files --------------------------------------------------------------------------


def test_a_real_xlsx_is_accepted(tmp_path: Path) -> None:
    assert _inspect(_xlsx(tmp_path / "sites.xlsx")) == ("xlsx", [])


def test_a_real_ods_is_accepted(tmp_path: Path) -> None:
    assert _inspect(_ods(tmp_path / "sites.ods")) == ("ods", [])


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("site_id,site_name\nstockport_together,Stockport Together\n", "utf-8"),
        ("site_id,site_name\nstockport_together,Stockport Together\n", "utf-8-sig"),
        ("site_id;budget\nstockport_together;£1,200\n", "cp1252"),
        ("site_id\tsite_name\r\nbradford,Café Bradford\r\n", "latin-1"),
    ],
)
def test_a_text_csv_is_accepted_in_any_encoding_the_reader_takes(
    tmp_path: Path, content: str, encoding: str
) -> None:
    path = tmp_path / "sites.csv"
    path.write_bytes(content.encode(encoding))
    assert _inspect(path) == ("csv", [])


def test_an_uppercase_extension_is_fine(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "upload.bin")
    assert _inspect(path, "SITES.XLSX") == ("xlsx", [])


def test_original_name_not_the_stored_path_decides_the_extension(tmp_path: Path) -> None:
    """Uploads are stored under content hashes; the name the user gave is what counts."""
    path = _ods(tmp_path / "3f9a.bin")
    kind, problems = _inspect(path, "Stockport returns.ods")
    assert (kind, problems) == ("ods", [])


# --- size -----------------------------------------------------------------------------------


def test_a_file_over_the_limit_is_refused_by_size_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 1024 * MB
    path = tmp_path / "huge.xlsx"
    with path.open("wb") as handle:
        handle.truncate(limit + 1)  # sparse: a gigabyte on paper, nothing on disk

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("a file over the size limit must not be opened")

    monkeypatch.setattr(builtins, "open", no_reading)
    monkeypatch.setattr(Path, "open", no_reading)
    problem = _refused(path, max_bytes=limit)
    monkeypatch.undo()
    assert problem.reason == "file_too_large"
    assert problem.value == "1,024.1 MB"
    assert "split the file" in problem.expected
    assert "raise the limit of 1,024 MB" in problem.expected


def test_a_file_exactly_at_the_limit_is_not_too_large(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_bytes(b"site_id\nbradford\n")
    assert _inspect(path, max_bytes=path.stat().st_size) == ("csv", [])


def test_the_size_shown_never_rounds_down_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    with path.open("wb") as handle:
        handle.truncate(25 * MB + 1)
    problem = _refused(path)
    assert problem.value == "25.1 MB"
    assert "limit of 25 MB" in problem.expected


# --- empty ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sites.xlsx", "sites.ods", "sites.csv"])
def test_a_zero_byte_file_is_empty(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.touch()
    problem = _refused(path)
    assert problem.reason == "empty_file"
    assert "upload it again" in problem.expected


@pytest.mark.parametrize(
    "content",
    [b"   \r\n\t\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n\r\n", b"\xff\xfe", b"\xff\xfe \x00\n\x00"],
    ids=["whitespace", "utf8-bom", "utf8-bom-and-newlines", "utf16-bom", "utf16-whitespace"],
)
def test_a_csv_of_only_blank_space_or_a_bom_is_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "sites.csv"
    path.write_bytes(content)
    problem = _refused(path)
    assert problem.reason == "empty_file"
    assert "right file" in problem.expected


# --- extensions -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".xlsm", ".xltm", ".xlsb", ".XLSM", ".xlam", ".xla"])
def test_macro_capable_extensions_are_refused(tmp_path: Path, suffix: str) -> None:
    path = _xlsx(tmp_path / "upload.bin")
    problem = _refused(path, f"sites{suffix}")
    assert problem.reason == "macro_enabled"
    assert problem.value == suffix.casefold()
    assert "save it as an ordinary .xlsx workbook without macros" in problem.expected


def test_a_legacy_xls_name_is_told_to_save_as_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "sites.xls"
    path.write_bytes(_compound_file({"Workbook": b"\x09\x08"}))
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert "Excel 97-2003" in problem.expected
    assert "Save As > Excel Workbook (.xlsx)" in problem.expected


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.docx", b"PK\x05\x06" + bytes(18)),
        ("report.pdf", b"%PDF-1.7\n"),
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00"),
        ("sites", b"site_id\nbradford\n"),
        ("sites.txt", b"site_id\nbradford\n"),
    ],
)
def test_other_extensions_are_not_spreadsheets(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    problem = _refused(path, name)
    assert problem.reason == "not_a_spreadsheet"
    assert problem.value == (Path(name).suffix or "(no extension)")
    assert "save the data as an Excel workbook (.xlsx)" in problem.expected


@pytest.mark.parametrize(("builder", "kind"), [(_xlsx, "xlsx"), (_ods, "ods")])
def test_a_healthy_workbook_with_a_lost_extension_is_told_to_rename(
    tmp_path: Path, builder, kind: str
) -> None:
    path = builder(tmp_path / f"upload.{kind}")
    problem = _refused(path, "sites")
    assert problem.reason == "not_a_spreadsheet"
    assert f"rename it so its name ends in .{kind}" in problem.expected


# --- .xlsx content --------------------------------------------------------------------------


def test_an_encrypted_xlsx_is_password_protected(tmp_path: Path) -> None:
    path = tmp_path / "sites.xlsx"
    path.write_bytes(
        _compound_file({"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\x01"})
    )
    assert {"/".join(p) for p in olefile.OleFileIO(str(path)).listdir()} == {
        "EncryptionInfo",
        "EncryptedPackage",
    }, "the hand-made compound file must be one olefile reads"
    kind, problems = _inspect(path)
    assert kind is None
    (problem,) = problems
    assert problem.reason == "password_protected"
    assert "remove the password in Excel (File > Info > Protect Workbook" in problem.expected
    assert "upload it again" in problem.expected


def test_an_encryption_info_stream_alone_is_enough(tmp_path: Path) -> None:
    path = tmp_path / "sites.xlsx"
    path.write_bytes(_compound_file({"EncryptionInfo": b"\x04\x00\x04\x00"}))
    assert _refused(path).reason == "password_protected"


def test_a_legacy_xls_renamed_xlsx_is_told_to_save_as_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "sites.xlsx"
    path.write_bytes(_compound_file({"Workbook": b"\x09\x08", "SummaryInformation": b"\xfe\xff"}))
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert "Excel 97-2003 (.xls)" in problem.expected
    assert "Save As > Excel Workbook (.xlsx)" in problem.expected


def test_a_word_97_document_renamed_xlsx_is_not_a_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "sites.xlsx"
    path.write_bytes(_compound_file({"WordDocument": b"\xec\xa5"}))
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert "save the data as" in problem.expected


def test_a_damaged_ole2_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "sites.xlsx"
    path.write_bytes(OLE2_MAGIC + bytes(100))
    problem = _refused(path)
    assert problem.reason == "unreadable_file"
    assert "save a fresh copy" in problem.expected


def test_an_xlsx_holding_a_vba_project_is_macro_enabled(tmp_path: Path) -> None:
    good = _xlsx(tmp_path / "good.xlsx")
    path = _rezip(good, tmp_path / "sites.xlsx", add={"xl/vbaProject.bin": OLE2_MAGIC})
    kind, problems = _inspect(path)
    assert kind == "xlsx"
    (problem,) = problems
    assert problem.reason == "macro_enabled"
    assert "save it as an ordinary .xlsx workbook without macros" in problem.expected


def test_an_xlsx_with_the_macro_enabled_content_type_is_macro_enabled(tmp_path: Path) -> None:
    good = _xlsx(tmp_path / "good.xlsx")
    main = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    macro = b"application/vnd.ms-excel.sheet.macroEnabled.main+xml"
    path = _rezip(good, tmp_path / "sites.xlsx", edit={"[Content_Types].xml": (main, macro)})
    assert _refused(path).reason == "macro_enabled"


def test_a_docx_renamed_xlsx_is_not_a_spreadsheet(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "sites.xlsx",
        {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"},
    )
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert problem.value == "a Word document"
    assert "save the data as an Excel workbook (.xlsx)" in problem.expected


def test_a_plain_zip_renamed_xlsx_says_to_unzip_it(tmp_path: Path) -> None:
    path = _zip(tmp_path / "sites.xlsx", {"sites.csv": b"site_id\nbradford\n"})
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert "unzip it" in problem.expected


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_xlsx_is_unreadable(tmp_path: Path, keep: float) -> None:
    data = _xlsx(tmp_path / "good.xlsx").read_bytes()
    path = tmp_path / "sites.xlsx"
    path.write_bytes(data[: int(len(data) * keep)])
    problem = _refused(path)
    assert problem.reason == "unreadable_file"
    assert "not fully uploaded" in problem.expected
    assert "upload that" in problem.expected


def test_a_zip_whose_parts_claim_to_run_past_its_end_is_unreadable(tmp_path: Path) -> None:
    """A central directory that says a part is bigger than the whole file is forged or damaged."""
    data = bytearray(_xlsx(tmp_path / "good.xlsx").read_bytes())
    last_entry = data.rindex(b"PK\x01\x02")
    data[last_entry + 20 : last_entry + 24] = struct.pack("<I", len(data) * 2)  # compressed size
    path = tmp_path / "sites.xlsx"
    path.write_bytes(bytes(data))
    assert _refused(path).reason == "unreadable_file"


@pytest.mark.parametrize(("builder", "claimed"), [(_ods, "xlsx"), (_xlsx, "ods")])
def test_a_workbook_with_the_other_extension_is_told_to_rename(
    tmp_path: Path, builder, claimed: str
) -> None:
    real = "ods" if claimed == "xlsx" else "xlsx"
    path = builder(tmp_path / f"upload.{real}")
    kind, problems = _inspect(path, f"sites.{claimed}")
    assert kind == real
    (problem,) = problems
    assert problem.reason == "not_a_spreadsheet"
    assert f"rename it so its name ends in .{real}" in problem.expected


def test_a_csv_renamed_xlsx_is_told_to_rename(tmp_path: Path) -> None:
    path = tmp_path / "sites.xlsx"
    path.write_bytes(b"site_id,site_name\nbradford,Bradford\n")
    kind, problems = _inspect(path)
    assert kind == "csv"
    (problem,) = problems
    assert problem.reason == "not_a_spreadsheet"
    assert "rename it so its name ends in .csv" in problem.expected


def test_a_web_page_saved_as_xlsx_is_told_to_save_as_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "sites.xlsx"
    path.write_bytes(b"\xef\xbb\xbf<html><table><tr><td>site_id</td></tr></table></html>")
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert "web page" in problem.expected
    assert "Save As > Excel Workbook (.xlsx)" in problem.expected


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"%PDF-1.4\n%\xe2\xe3", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "a PNG picture"),
    ],
)
def test_a_binary_renamed_xlsx_is_not_a_spreadsheet(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "sites.xlsx"
    path.write_bytes(content)
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert problem.value == words
    assert "save the data as" in problem.expected


# --- .ods content ---------------------------------------------------------------------------


def test_a_password_protected_ods_is_refused(tmp_path: Path) -> None:
    good = _ods(tmp_path / "good.ods")
    encrypted = (
        b'<manifest:file-entry manifest:full-path="content.xml" '
        b'manifest:media-type="text/xml" manifest:size="1234">'
        b'<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"/>'
        b"</manifest:file-entry></manifest:manifest>"
    )
    path = _rezip(
        good,
        tmp_path / "sites.ods",
        edit={"META-INF/manifest.xml": (b"</manifest:manifest>", encrypted)},
    )
    kind, problems = _inspect(path)
    assert kind == "ods"
    (problem,) = problems
    assert problem.reason == "password_protected"
    assert "untick 'Save with password'" in problem.expected
    assert "upload it again" in problem.expected


def test_an_odt_renamed_ods_is_not_a_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "sites.ods"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>")
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert problem.value == "an OpenDocument text document"
    assert "save the data as" in problem.expected


def test_a_truncated_ods_is_unreadable(tmp_path: Path) -> None:
    data = _ods(tmp_path / "good.ods").read_bytes()
    path = tmp_path / "sites.ods"
    path.write_bytes(data[: len(data) // 2])
    assert _refused(path).reason == "unreadable_file"


# --- zip bombs ------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", [_xlsx, _ods])
def test_a_workbook_unpacking_past_the_limit_is_a_zip_bomb(tmp_path: Path, builder) -> None:
    path = builder(tmp_path / ("sites.xlsx" if builder is _xlsx else "sites.ods"))
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    assert _inspect(path, max_unpacked_bytes=unpacked)[1] == []
    problem = _refused(path, max_unpacked_bytes=unpacked - 1)
    assert problem.reason == "zip_bomb"
    assert problem.value is not None
    assert problem.value.startswith("unpacks to")
    assert "send it to the evaluation team" in problem.expected


@pytest.mark.parametrize("name", ["sites.xlsx", "sites.ods"])
def test_one_hugely_compressed_part_is_a_zip_bomb(tmp_path: Path, name: str) -> None:
    """11 MB of zeros packs ~1000 to 1 into ~11 KB; the total stays under the limit."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/workbook.xml", b"<workbook/>")
        _zeros_entry(archive, "xl/worksheets/sheet1.xml", 11 * MB)
    assert path.stat().st_size < 100 * 1024
    problem = _refused(path)
    assert problem.reason == "zip_bomb"
    assert problem.value is not None
    assert problem.value.startswith("xl/worksheets/sheet1.xml packed")


def test_a_small_part_may_compress_as_well_as_it_likes(tmp_path: Path) -> None:
    """A blank sheet packs far better than 200 to 1 but is tiny, so it is no bomb."""
    good = _xlsx(tmp_path / "good.xlsx")
    path = _rezip(good, tmp_path / "sites.xlsx", add={"xl/media/blank.xml": bytes(5 * MB)})
    assert _inspect(path) == ("xlsx", [])


def test_too_many_parts_is_a_zip_bomb(tmp_path: Path) -> None:
    path = tmp_path / "sites.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/workbook.xml", b"<workbook/>")
        for index in range(10_000):
            archive.writestr(f"xl/p/{index}", b"")
    problem = _refused(path)
    assert problem.reason == "zip_bomb"
    assert problem.value == "10,002 parts inside"


def test_a_bomb_is_judged_without_unpacking_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _xlsx(tmp_path / "sites.xlsx")

    def no_unpacking(*args: object, **kwargs: object) -> None:
        raise AssertionError("the central directory alone must decide")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_unpacking)
    assert _refused(path, max_unpacked_bytes=1).reason == "zip_bomb"


# --- .csv content ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "a PNG picture"),
        (b"%PDF-1.4\n", "a PDF document"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "a Windows program"),
        (OLE2_MAGIC + bytes(8), "an older Microsoft Office file"),
        (b"PK\x03\x04" + bytes(26), "a zip archive"),
    ],
)
def test_a_binary_renamed_csv_is_not_a_spreadsheet(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "sites.csv"
    path.write_bytes(content)
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert problem.value == words
    assert "save the data as an Excel workbook (.xlsx)" in problem.expected


def test_an_xlsx_renamed_csv_is_told_to_rename(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "upload.xlsx")
    kind, problems = _inspect(path, "sites.csv")
    assert kind == "xlsx"
    (problem,) = problems
    assert problem.reason == "not_a_spreadsheet"
    assert "rename it so its name ends in .xlsx" in problem.expected


def test_a_macro_workbook_renamed_csv_keeps_its_macro_problem(tmp_path: Path) -> None:
    good = _xlsx(tmp_path / "good.xlsx")
    path = _rezip(good, tmp_path / "upload.xlsx", add={"xl/vbaProject.bin": OLE2_MAGIC})
    assert _refused(path, "sites.csv").reason == "macro_enabled"


def test_nul_bytes_in_a_csv_mean_it_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_bytes(b"site_id,site_name\nbradford\x00\x00,Bradford\n")
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert "is not a text file" in problem.expected


def test_control_character_soup_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_bytes(bytes(range(1, 32)) * 20)
    assert _refused(path).reason == "not_a_spreadsheet"


def test_a_utf16_unicode_text_export_is_told_to_save_as_csv_utf8(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_bytes("site_id\tsite_name\r\nbradford\tBradford\r\n".encode("utf-16"))
    problem = _refused(path)
    assert problem.reason == "not_a_spreadsheet"
    assert "CSV UTF-8 (Comma delimited)" in problem.expected


def test_only_the_first_64_kib_of_a_csv_is_read(tmp_path: Path) -> None:
    """A long CSV is judged on its head: the tail is the reader's business, not read here."""
    path = tmp_path / "sites.csv"
    head = ("site_id,site_name\n" + "bradford,Bradford\n" * 4000).encode()[: 64 * 1024]
    path.write_bytes(head + b"\x00" * MB)
    assert _inspect(path) == ("csv", [])


def test_a_multibyte_character_cut_by_the_64_kib_window_is_still_utf8(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    body = "site_id,site_name\n" + "x" * (64 * 1024 - 20) + ",Café Ñandú\n"
    path.write_bytes(body.encode("utf-8"))
    assert _inspect(path) == ("csv", [])


# --- missing --------------------------------------------------------------------------------


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    problem = _refused(tmp_path / "gone.xlsx")
    assert problem.reason == "unreadable_file"
    assert "upload it again" in problem.expected


def test_a_directory_is_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "sites.xlsx"
    folder.mkdir()
    assert _refused(folder).reason == "unreadable_file"
