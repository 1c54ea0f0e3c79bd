"""The archive's copy of an upload that held an NHS number: the same file, redacted.

The archive keeps each upload's bytes for lineage, except where an NHS number is found
anywhere in it (a cell, a title row, a column reval ignores, a sheet name): then it
keeps a redacted copy, named by the original's SHA-256, so the number is never stored in
clear while lineage and "same file twice" still go by the original's hash. The copy is
the same kind of file with every NHS number replaced by the mask, so reading it again
gives the same answer the original got (cleaning treats the mask as the identifier it
replaced).
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Final
from xml.sax.saxutils import escape

from reval.identifiers import (
    NHS_NAME_MASK,
    NHS_NUMBER_MASK,
    mask_name,
    mask_nhs_numbers_in,
)
from reval.ingest.readers import CSV_ENCODINGS, FileKind

XLSX_NUMBER_CELL: Final[re.Pattern[str]] = re.compile(
    r"<c\b(?P<attrs>[^>]*?)(?<!/)>(?P<formula><f\b[^>]*/>|<f\b[^>]*>.*?</f>)?"
    r"<v>(?P<value>[^<]*)</v></c>",
    re.DOTALL,
)
XLSX_TYPE: Final[re.Pattern[str]] = re.compile(r'\s+t="[^"]*"')
ODS_CELL: Final[re.Pattern[str]] = re.compile(r"<table:table-cell\b[^>]*>")
ODS_VALUE: Final[re.Pattern[str]] = re.compile(r'\s+office:value="(?P<value>[^"]*)"')
SHEET_NAME: Final[re.Pattern[str]] = re.compile(
    r'(?P<attr>\b(?:name|table:name)=")(?P<name>[^"]*)"'
)


def redacted_copy(data: bytes, kind: FileKind | None) -> bytes | None:
    """The upload with every NHS number masked, or None when it holds none."""
    if kind is None:
        return _redacted_bytes(data)  # not a spreadsheet: refused, but kept masked
    if kind == "csv":
        return _redacted_text(data)
    try:
        return _redacted_package(data, kind)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        return _redacted_bytes(data)  # damaged: still never keep a number in clear


def _redacted_text(data: bytes) -> bytes | None:
    for encoding in CSV_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        masked = mask_nhs_numbers_in(text, "\n")
        if masked == text:
            return None
        if encoding == "utf-8-sig" and not data.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8"
        return masked.encode(encoding)
    return None  # pragma: no cover - latin-1 decodes any bytes


def _redacted_bytes(data: bytes) -> bytes | None:
    """Byte-level masking of a file that is not a readable package."""
    text = data.decode("latin-1")
    masked = mask_nhs_numbers_in(text, "\n", "#" * 10)
    return None if masked == text else masked.encode("latin-1", errors="replace")


def _redacted_package(data: bytes, kind: FileKind) -> bytes | None:
    """An .xlsx/.ods rewritten part by part: text masked, numeric cells holding an NHS
    number turned into text cells showing the mask, sheet names masked."""
    changed = False
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.endswith((".xml", ".rels")):
                text = content.decode("utf-8", errors="surrogateescape")
                masked = _redacted_xml(text, kind)
                if masked != text:
                    changed = True
                    content = masked.encode("utf-8", errors="surrogateescape")
            else:
                raw = content.decode("latin-1")
                masked_raw = mask_nhs_numbers_in(raw, "\n", "#" * 10)
                if masked_raw != raw:
                    changed = True
                    content = masked_raw.encode("latin-1")
            target.writestr(info, content, compress_type=info.compress_type)
    return out.getvalue() if changed else None


def _redacted_xml(text: str, kind: FileKind) -> str:
    """Sheet names masked, then every NHS number; a numeric cell that held one becomes a
    text cell showing the mask (only parts holding one are looked at cell by cell)."""
    if "name=" in text:
        text = SHEET_NAME.sub(lambda m: f'{m["attr"]}{mask_name(m["name"])}"', text)
    masked = mask_nhs_numbers_in(text, "<")
    if masked == text:
        return text
    if kind == "xlsx":
        return XLSX_NUMBER_CELL.sub(_xlsx_number_cell, masked)
    return ODS_CELL.sub(_ods_cell, masked)


def _xlsx_number_cell(match: re.Match[str]) -> str:
    attrs, value = match["attrs"], match["value"]
    kind = re.search(r'\bt="([^"]*)"', attrs)
    if (kind is not None and kind[1] not in {"n", "str"}) or NHS_NUMBER_MASK not in value:
        return match[0]
    attrs = XLSX_TYPE.sub("", attrs)
    return f'<c{attrs} t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def _ods_cell(match: re.Match[str]) -> str:
    tag = match[0]
    value = ODS_VALUE.search(tag)
    if value is None or NHS_NUMBER_MASK not in value["value"]:
        return tag
    tag = ODS_VALUE.sub("", tag)
    return re.sub(r'(office|calcext):value-type="[^"]*"', r'\1:value-type="string"', tag)


__all__ = ["NHS_NAME_MASK", "redacted_copy"]
