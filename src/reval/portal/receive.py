"""Receiving an upload: the request body streamed to a file inside the workspace.

The usual form parsers keep small files in memory and spool bigger ones to the
system's temporary folder, with no limit on size. Here the multipart stream goes
through python-multipart's streaming parser straight into a file with a random name
under ``<workspace>/portal/incoming/``, counting bytes as they arrive: past the size
limit the rest is read and thrown away (so the browser gets a proper answer instead
of a reset connection) and nothing of it is kept.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from reval.identifiers import mask_name
from reval.portal.security import unsafe_filename_reason

MAX_FIELD_BYTES: Final[int] = 4096
"""Text fields (the CSRF token) are tiny; anything longer is cut."""
MAX_PARTS: Final[int] = 8
DRAIN_FACTOR: Final[int] = 4
"""Past this multiple of the limit an oversized body is no longer read at all."""


class BadUploadError(Exception):
    """The request is not a form upload at all (wrong content type, broken stream)."""


@dataclass
class ReceivedUpload:
    fields: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    """The received bytes, inside the workspace; the caller deletes it."""
    filename: str | None = None
    """The name the browser sent, as sent (only ever shown or recorded, never a path)."""
    size: int = 0
    too_large: bool = False
    unsafe_name: str | None = None
    """Why the file name was refused, if it was."""

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.path = None


class _Receiver:
    """python-multipart callbacks: headers per part, data to a field or the file."""

    def __init__(self, folder: Path, max_bytes: int, file_field: str) -> None:
        self.folder, self.max_bytes, self.file_field = folder, max_bytes, file_field
        self.result = ReceivedUpload()
        self.parts = 0
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._field: str | None = None
        self._buffer = bytearray()
        self._out: IO[bytes] | None = None
        self._to_file = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda d, s, e: self._add("_header_name", d[s:e]),
            "on_header_value": lambda d, s, e: self._add("_header_value", d[s:e]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def _add(self, name: str, data: bytes) -> None:
        value: bytes = getattr(self, name)
        if len(value) < MAX_FIELD_BYTES:
            setattr(self, name, value + data)

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadUploadError("too many form fields")
        self._headers, self._field, self._buffer, self._to_file = {}, None, bytearray(), False

    def header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name, self._header_value = b"", b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name != self.file_field or b"filename" not in options:
            self._field = name
            return
        if self.result.filename is not None:  # one file per upload
            return
        # an NHS number in the name is masked before the name is shown, logged or stored
        filename = mask_name(options[b"filename"].decode("utf-8", "replace"))
        self.result.filename = filename
        if not filename:  # the form was sent with no file chosen
            return
        self.result.unsafe_name = unsafe_filename_reason(filename)
        if self.result.unsafe_name is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{uuid.uuid4().hex}.part"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._out, self.result.path = os.fdopen(fd, "wb"), path
        self._to_file = True

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._to_file:
            self.result.size += end - start
            if self.result.size > self.max_bytes and not self.result.too_large:
                self.result.too_large = True
                self._close()
                self.result.discard()
            if self._out is not None:
                self._out.write(data[start:end])
        elif self._field is not None and len(self._buffer) < MAX_FIELD_BYTES:
            self._buffer += data[start:end][: MAX_FIELD_BYTES - len(self._buffer)]

    def part_end(self) -> None:
        if self._to_file:
            self._close()
        elif self._field is not None:
            self.result.fields.setdefault(self._field, self._buffer.decode("utf-8", "replace"))

    def _close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


async def receive_upload(
    request: Request, folder: Path, max_bytes: int, file_field: str = "file"
) -> ReceivedUpload:
    """Stream a multipart/form-data request into ``folder``; the file is cut off (and
    ``too_large`` set) past ``max_bytes``, and never written when its name is unsafe."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise BadUploadError("not a file upload form")
    receiver = _Receiver(folder, max_bytes, file_field)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > DRAIN_FACTOR * max_bytes + 1024 * 1024:
                receiver.result.too_large = True
                break  # stop reading: the server will close this connection
            parser.write(chunk)
        if not receiver.result.too_large:
            parser.finalize()
    except BadUploadError:
        receiver._close()
        receiver.result.discard()
        raise
    except Exception as error:  # a malformed body: keep nothing
        receiver._close()
        receiver.result.discard()
        raise BadUploadError("the upload was cut off or malformed") from error
    receiver._close()
    if receiver.result.too_large:
        receiver.result.discard()
    return receiver.result
