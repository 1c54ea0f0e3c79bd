"""File guards: refuse dangerous or unusable uploads before any parser sees them.

Parsers trust what they are given: a renamed PDF becomes a wall of mojibake, a
zip bomb fills the disk, a password-protected workbook fails with a stack trace.
So every upload is looked at here first, by its bytes rather than its name, and
refused with one plain-English :class:`Problem` a site coordinator can act on.

Nothing here parses cells or decompresses a workbook to decide: the size comes
from ``stat``, a CSV is judged on its first 64 KiB, and a zip on its central
directory (plus, once that is known to be sane, a few bounded reads of tiny
marker entries such as ``mimetype``).
"""

from __future__ import annotations

import codecs
import math
import zipfile
from pathlib import Path
from typing import Final

import olefile

from reval.ingest.problems import Problem, ReasonCode
from reval.ingest.readers import CSV_ENCODINGS, FileKind, file_kind

CSV_SNIFF_BYTES: Final[int] = 64 * 1024
"""A CSV is judged on this much of its start; the reader deals with the rest."""
MAX_ZIP_ENTRIES: Final[int] = 10_000
MAX_ENTRY_RATIO: Final[int] = 200
"""Unpacked / packed size above which a big entry is treated as a bomb (XML is ~10-30)."""
RATIO_MIN_ENTRY_BYTES: Final[int] = 10 * 1024 * 1024
"""Entries smaller than this may compress as well as they like (e.g. a blank sheet)."""
MARKER_READ_BYTES: Final[int] = 1024 * 1024
"""Most bytes ever unpacked from one marker entry ([Content_Types].xml, manifest.xml)."""
MAX_CONTROL_CHAR_SHARE: Final[float] = 0.05
"""Share of control characters above which a 'CSV' is treated as binary."""

OLE2_MAGIC: Final[bytes] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS: Final[tuple[bytes, ...]] = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
ODS_MIMETYPE: Final[str] = "application/vnd.oasis.opendocument.spreadsheet"
OOXML_ENCRYPTION_STREAMS: Final[frozenset[str]] = frozenset({"encryptioninfo", "encryptedpackage"})
UTF16_BOMS: Final[tuple[bytes, ...]] = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
TEXT_CONTROLS: Final[frozenset[str]] = frozenset("\t\n\r\f\v\x1a")
"""Control characters real text files contain (\\x1a: old DOS end-of-file mark)."""

MACRO_SUFFIXES: Final[dict[str, str]] = {
    ".xlsm": "a macro-enabled Excel workbook",
    ".xltm": "a macro-enabled Excel template",
    ".xlsb": "an Excel binary workbook, which can carry macros",
    ".xlam": "an Excel add-in, which is made of macros",
    ".xla": "an Excel add-in, which is made of macros",
}
OLD_EXCEL_SUFFIXES: Final[dict[str, str]] = {
    ".xls": "an older Excel 97-2003 workbook",
    ".xlt": "an older Excel 97-2003 template",
    ".xltx": "an Excel template",
}
KIND_WORDS: Final[dict[FileKind, str]] = {
    "xlsx": "an Excel workbook (.xlsx)",
    "ods": "an OpenDocument spreadsheet (.ods)",
    "csv": "a text (CSV) file",
}
BINARY_MAGICS: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG picture"),
    (b"\xff\xd8\xff", "a JPEG picture"),
    (b"GIF87a", "a GIF picture"),
    (b"GIF89a", "a GIF picture"),
    (b"%PDF", "a PDF document"),
    (b"{\\rtf", "a Rich Text (RTF) document"),
    (b"\x7fELF", "a computer program"),
    (b"\x1f\x8b", "a compressed (gzip) archive"),
    (b"Rar!\x1a\x07", "a compressed (RAR) archive"),
    (b"7z\xbc\xaf\x27\x1c", "a compressed (7-Zip) archive"),
)
OTHER_OOXML_PARTS: Final[tuple[tuple[str, str], ...]] = (
    ("word/document.xml", "a Word document"),
    ("ppt/presentation.xml", "a PowerPoint presentation"),
)
OTHER_ODF_WORDS: Final[dict[str, str]] = {
    "application/vnd.oasis.opendocument.text": "an OpenDocument text document",
    "application/vnd.oasis.opendocument.presentation": "an OpenDocument presentation",
    "application/vnd.oasis.opendocument.graphics": "an OpenDocument drawing",
}

SAVE_AS_SPREADSHEET: Final[str] = (
    "save the data as an Excel workbook (.xlsx), an OpenDocument spreadsheet (.ods) "
    "or a CSV file (.csv) and upload that"
)
SAVE_AS_XLSX: Final[str] = (
    "open it in Excel, choose File > Save As > Excel Workbook (.xlsx) and upload that"
)
SAVE_WITHOUT_MACROS: Final[str] = (
    "reval does not accept files that can run macros; open it in Excel, choose File > Save As, "
    "save it as an ordinary .xlsx workbook without macros (Excel Workbook) and upload that"
)
DAMAGED: Final[str] = (
    "is damaged or was not fully uploaded, so reval cannot open it; open it in Excel or "
    "LibreOffice to check it, save a fresh copy and upload that"
)
ZIP_BOMB: Final[str] = (
    "unpacks to far more data than a spreadsheet should (a 'zip bomb'), so reval will not open "
    "it; if it is a genuine spreadsheet, save a fresh copy and upload that, or send it to the "
    "evaluation team to look at"
)
COULD_NOT_OPEN: Final[str] = (
    "could not be opened; upload it again, and if that fails send it to the evaluation team"
)
EMPTY: Final[str] = (
    "check you picked the right file, save it again with its data and upload it again"
)

Inspection = tuple[FileKind | None, list[Problem]]


def inspect_upload(
    path: Path, original_name: str, *, max_bytes: int, max_unpacked_bytes: int
) -> tuple[FileKind | None, list[Problem]]:
    """Return the file's real kind and [] when it is safe to parse, or (None or kind, [problems])
    when it must be refused.

    The kind returned is what the *content* is (None when it is no spreadsheet reval
    reads), so a refused file can still say "this is really an .ods". Only a file whose
    content matches its name's extension comes back with no problems, because the
    readers choose their parser by that extension.
    """
    name = original_name
    try:
        size = path.stat().st_size
    except OSError:
        return None, [_problem(name, None, COULD_NOT_OPEN, "unreadable_file")]
    if not path.is_file():
        return None, [_problem(name, None, COULD_NOT_OPEN, "unreadable_file")]
    if size > max_bytes:
        limit = _megabytes(max_bytes, round_up=False)
        expected = (
            f"is larger than the {limit} MB upload limit; split the file into smaller files, "
            f"or ask the evaluation team to raise the limit of {limit} MB"
        )
        return None, [_problem(name, f"{_megabytes(size)} MB", expected, "file_too_large")]
    if size == 0:
        return None, [_problem(name, "0 bytes", f"is empty; {EMPTY}", "empty_file")]
    claimed = file_kind(name)
    try:
        with path.open("rb") as handle:
            head = handle.read(CSV_SNIFF_BYTES)
    except OSError:
        return None, [_problem(name, None, COULD_NOT_OPEN, "unreadable_file")]
    if claimed is None:
        return None, [_refuse_by_suffix(path, name, head, max_unpacked_bytes)]
    if claimed == "csv":
        return _inspect_csv(path, name, head, whole=size <= len(head), limit=max_unpacked_bytes)
    return _inspect_package(path, name, head, claimed, max_unpacked_bytes)


def _refuse_by_suffix(path: Path, name: str, head: bytes, max_unpacked_bytes: int) -> Problem:
    """An extension reval never reads: macro-capable, legacy Excel, or something else."""
    suffix = Path(name).suffix.casefold()
    shown = suffix or "(no extension)"
    if suffix in MACRO_SUFFIXES:
        return _problem(name, shown, f"is {MACRO_SUFFIXES[suffix]}; {SAVE_WITHOUT_MACROS}",
                        "macro_enabled")  # fmt: skip
    if suffix in OLD_EXCEL_SUFFIXES:
        return _problem(name, shown, f"is {OLD_EXCEL_SUFFIXES[suffix]}, which reval does not "
                        f"read; {SAVE_AS_XLSX}", "not_a_spreadsheet")  # fmt: skip
    if head.startswith(ZIP_MAGICS):
        # a healthy workbook with a lost or wrong extension only needs renaming
        real, problems = _inspect_zip(path, name, None, max_unpacked_bytes)
        if real is not None and not problems:
            return _problem(name, shown, f"is really {KIND_WORDS[real]} with the wrong name; "
                            f"rename it so its name ends in .{real} and upload it again",
                            "not_a_spreadsheet")  # fmt: skip
    return _problem(name, shown, f"is not a spreadsheet reval reads; {SAVE_AS_SPREADSHEET}",
                    "not_a_spreadsheet")  # fmt: skip


def _inspect_package(
    path: Path, name: str, head: bytes, claimed: FileKind, max_unpacked_bytes: int
) -> Inspection:
    """An .xlsx or .ods name: the content must be that kind of zip package."""
    if head.startswith(OLE2_MAGIC):
        return None, [_inspect_ole(path, name)]
    if head.startswith(ZIP_MAGICS):
        return _inspect_zip(path, name, claimed, max_unpacked_bytes)
    found = _binary_words(head)
    if found is None and _looks_like_text(head):
        text = _decode_head(head, whole=False).lstrip("\ufeff \t\r\n").casefold()
        if text.startswith("<"):
            expected = (f"is really a web page or XML file, not {KIND_WORDS[claimed]}; "
                        f"{SAVE_AS_XLSX}")  # fmt: skip
            return None, [_problem(name, "web page or XML", expected, "not_a_spreadsheet")]
        expected = (f"is really a text (CSV) file, not {KIND_WORDS[claimed]}; rename it so its "
                    "name ends in .csv, or open it in Excel and save it as .xlsx, then upload it again")  # fmt: skip
        return "csv", [_problem(name, "text (CSV)", expected, "not_a_spreadsheet")]
    words = found or "some other kind of file"
    expected = f"is really {words}, not a spreadsheet; {SAVE_AS_SPREADSHEET}"
    return None, [_problem(name, words, expected, "not_a_spreadsheet")]


def _inspect_ole(path: Path, name: str) -> Problem:
    """An OLE2 compound file: an encrypted .xlsx, or a legacy .xls/.doc renamed."""
    try:
        with path.open("rb") as handle, olefile.OleFileIO(handle) as ole:
            streams = {"/".join(parts).casefold() for parts in ole.listdir()}
    except Exception:  # olefile raises many kinds of error on damaged files
        return _problem(name, None, DAMAGED, "unreadable_file")
    if streams & OOXML_ENCRYPTION_STREAMS:
        expected = (
            "is password protected, so reval cannot open it; remove the password in Excel "
            "(File > Info > Protect Workbook > Encrypt with Password, delete the password and "
            "press OK), save it and upload it again"
        )
        return _problem(name, None, expected, "password_protected")
    if streams & {"workbook", "book"}:
        expected = f"is really an older Excel 97-2003 (.xls) workbook; {SAVE_AS_XLSX}"
        return _problem(name, "Excel 97-2003 workbook", expected, "not_a_spreadsheet")
    expected = f"is an older Microsoft Office file, not an Excel workbook; {SAVE_AS_SPREADSHEET}"
    return _problem(name, "older Office file", expected, "not_a_spreadsheet")


def _inspect_zip(
    path: Path, name: str, claimed: FileKind | None, max_unpacked_bytes: int
) -> Inspection:
    """A zip: bomb check on the central directory first, then what kind of package it is."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            bomb = _zip_bomb(name, infos, max_unpacked_bytes, path.stat().st_size)
            if bomb is not None:
                return None, [bomb]
            if any(info.flag_bits & 0x1 for info in infos):
                expected = ("is locked with a password, so reval cannot open it; save a copy "
                            "without a password and upload that")  # fmt: skip
                return None, [_problem(name, None, expected, "password_protected")]
            return _zip_package(archive, name, claimed)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError, RuntimeError):  # fmt: skip
        return None, [_problem(name, None, DAMAGED, "unreadable_file")]


def _zip_bomb(
    name: str, infos: list[zipfile.ZipInfo], max_unpacked_bytes: int, size: int
) -> Problem | None:
    """Judge the declared sizes only: nothing is decompressed to decide."""
    if len(infos) > MAX_ZIP_ENTRIES:
        return _problem(name, f"{len(infos):,} parts inside", ZIP_BOMB, "zip_bomb")
    total = sum(info.file_size for info in infos)
    if total > max_unpacked_bytes:
        return _problem(name, f"unpacks to {_megabytes(total)} MB", ZIP_BOMB, "zip_bomb")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > MAX_ENTRY_RATIO and info.file_size > RATIO_MIN_ENTRY_BYTES:
            value = f"{info.filename} packed {ratio:,.0f} to 1"
            return _problem(name, value, ZIP_BOMB, "zip_bomb")
        if info.header_offset + info.compress_size > size:
            # a part that claims to lie beyond the end of the file: truncated or forged
            raise zipfile.BadZipFile(f"{info.filename} runs past the end of the file")
    return None


def _zip_package(archive: zipfile.ZipFile, name: str, claimed: FileKind | None) -> Inspection:
    """Tell .xlsx from .ods from other zips by their marker parts, macros and encryption."""
    names = {entry.casefold() for entry in archive.namelist()}
    if "[content_types].xml" in names:
        real: FileKind | None = "xlsx" if "xl/workbook.xml" in names else None
        content_types = _read_marker(archive, "[Content_Types].xml").casefold()
        if "xl/vbaproject.bin" in names or "macroenabled" in content_types:
            return real, [_problem(name, "contains macros", f"is a macro-enabled Excel file; "
                                   f"{SAVE_WITHOUT_MACROS}", "macro_enabled")]  # fmt: skip
        if real is None:
            words = next((w for part, w in OTHER_OOXML_PARTS if part in names),
                         "an Office file that is not an Excel workbook")  # fmt: skip
            expected = f"is really {words}, not a spreadsheet; {SAVE_AS_SPREADSHEET}"
            return None, [_problem(name, words, expected, "not_a_spreadsheet")]
    elif "mimetype" in names:
        mimetype = _read_marker(archive, "mimetype", limit=256).strip()
        if mimetype != ODS_MIMETYPE:
            words = OTHER_ODF_WORDS.get(mimetype, "an OpenDocument file that is not a spreadsheet")
            expected = f"is really {words}, not a spreadsheet; {SAVE_AS_SPREADSHEET}"
            return None, [_problem(name, words, expected, "not_a_spreadsheet")]
        real = "ods"
        if "encryption-data" in _read_marker(archive, "META-INF/manifest.xml"):
            expected = (
                "is password protected, so reval cannot open it; open it in LibreOffice, "
                "choose File > Save As, untick 'Save with password', save it and upload it again"
            )
            return real, [_problem(name, None, expected, "password_protected")]
    else:
        expected = (
            "is a zip archive, not a spreadsheet; unzip it and upload the spreadsheet inside "
            "(.xlsx, .ods or .csv) on its own"
        )
        return None, [_problem(name, "zip archive", expected, "not_a_spreadsheet")]
    if claimed is not None and real != claimed:
        expected = (f"is really {KIND_WORDS[real]}, not {KIND_WORDS[claimed]}; rename it so its "
                    f"name ends in .{real} and upload it again")  # fmt: skip
        return real, [_problem(name, f"really .{real}", expected, "not_a_spreadsheet")]
    return real, []


def _read_marker(archive: zipfile.ZipFile, entry: str, limit: int = MARKER_READ_BYTES) -> str:
    """A small marker entry as text, found case-insensitively, never unpacked past ``limit``."""
    actual = next((n for n in archive.namelist() if n.casefold() == entry.casefold()), None)
    if actual is None:
        return ""
    with archive.open(actual) as handle:
        return handle.read(limit).decode("utf-8", errors="replace")


def _inspect_csv(path: Path, name: str, head: bytes, *, whole: bool, limit: int) -> Inspection:
    """A .csv name: the first 64 KiB must be text, not a renamed binary or workbook."""
    if head.startswith(ZIP_MAGICS):
        real, problems = _inspect_zip(path, name, None, limit)
        if real is not None and problems:
            return real, problems  # e.g. macros: renaming alone would not help
        if real is not None:
            expected = (f"is really {KIND_WORDS[real]}, not a CSV file; rename it so its name "
                        f"ends in .{real} and upload it again")  # fmt: skip
            return real, [_problem(name, f"really .{real}", expected, "not_a_spreadsheet")]
    if head.startswith(UTF16_BOMS):
        if whole and not head.decode("utf-16", errors="replace").lstrip("\ufeff").strip():
            return None, [_problem(name, None, f"has no data in it; {EMPTY}", "empty_file")]
        expected = (
            "is saved as 'Unicode Text' (UTF-16), which reval does not read; open it in Excel "
            "and choose File > Save As > CSV UTF-8 (Comma delimited), then upload that"
        )
        return None, [_problem(name, "UTF-16 text", expected, "not_a_spreadsheet")]
    words = _binary_words(head)
    if words is not None:
        expected = f"is really {words}, not a CSV file; {SAVE_AS_SPREADSHEET}"
        return None, [_problem(name, words, expected, "not_a_spreadsheet")]
    if not _looks_like_text(head):
        expected = f"is not a text file, so it cannot be a CSV file; {SAVE_AS_SPREADSHEET}"
        return None, [_problem(name, "not text", expected, "not_a_spreadsheet")]
    if whole and not _decode_head(head, whole=True).replace("\ufeff", "").strip():
        expected = f"has no data in it, only blank space; {EMPTY}"
        return None, [_problem(name, None, expected, "empty_file")]
    return "csv", []


def _binary_words(head: bytes) -> str | None:
    """What a file is, from the magic bytes at its start, when it is plainly not a spreadsheet."""
    for magic, words in BINARY_MAGICS:
        if head.startswith(magic):
            return words
    if head.startswith(b"MZ") and b"\x00" in head[:64]:
        return "a Windows program"
    if head.startswith(OLE2_MAGIC):
        return "an older Microsoft Office file"
    if head.startswith(ZIP_MAGICS):
        return "a zip archive"
    return None


def _looks_like_text(head: bytes) -> bool:
    """No NUL bytes and hardly any control characters once decoded."""
    if b"\x00" in head:
        return False
    text = _decode_head(head, whole=False)
    if not text:
        return True
    controls = sum(1 for ch in text if ch < " " and ch not in TEXT_CONTROLS)
    return controls / len(text) <= MAX_CONTROL_CHAR_SHARE


def _decode_head(head: bytes, *, whole: bool) -> str:
    """The head as text in the first encoding the CSV reader would accept.

    A head cut mid-file may end inside a multi-byte character, so UTF-8 is decoded
    incrementally unless the head is the whole file.
    """
    for encoding in CSV_ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        try:
            return decoder.decode(head, final=whole)
        except UnicodeDecodeError:
            continue
    return head.decode("latin-1")


def _megabytes(size: int, *, round_up: bool = True) -> str:
    """Size in MB (MiB) to one decimal, rounded so a file over the limit never shows as equal."""
    tenths = size * 10 / (1024 * 1024)
    tenths = math.ceil(tenths) if round_up else math.floor(tenths)
    return f"{tenths / 10:,.1f}".removesuffix(".0")


def _problem(name: str, value: str | None, expected: str, reason: ReasonCode) -> Problem:
    return Problem(file=name, sheet=None, row=None, column=None, value=value, expected=expected,
                   reason=reason)  # fmt: skip
