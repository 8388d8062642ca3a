"""Count a zip archive's entries from its end record and directory headers, before zipfile reads them.

`zipfile.ZipFile` parses the whole central directory into one `ZipInfo` per entry as it opens the
archive: a 92 MB `.docx` of a million empty entries took 620 MB and 19 s to open and check, and
nothing in it was text. The end-of-directory record says how many entries there are; that count
is refused first (no directory byte is read). The count can lie, and zipfile does not trust it
either (it parses the directory until the directory's size is used up), so the directory's
headers are then walked too, 46 bytes and a seek each, stopping one entry past the limit.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from ingest.loaders.base import LoaderError

_END = b"PK\x05\x06"
_END_FORMAT = "<4s4H2LH"
_END_SIZE = struct.calcsize(_END_FORMAT)  # 22
_MAX_COMMENT = 0xFFFF
_LOCATOR = b"PK\x06\x07"
_LOCATOR_FORMAT = "<4sLQL"
_LOCATOR_SIZE = struct.calcsize(_LOCATOR_FORMAT)  # 20
_END64 = b"PK\x06\x06"
_END64_FORMAT = "<4sQ2H2L4Q"
_END64_SIZE = struct.calcsize(_END64_FORMAT)  # 56
_ENTRY = b"PK\x01\x02"
_ENTRY_SIZE = 46
_TOO_MANY = "raise RAG_MAX_ZIP_ENTRIES to allow it"


def check_entry_count(path: Path, limit: int) -> None:
    """Refuse an archive whose directory lists more than `limit` entries. An archive whose end
    record cannot be found is left to zipfile, which says why it is broken."""
    with path.open("rb") as stream:
        found = _directory(stream)
        if found is None:
            return
        declared, start, size = found
        if declared > limit:
            raise LoaderError(
                f"the archive lists {declared:,} entries, over the {limit:,} limit; {_TOO_MANY}"
            )
        if _count(stream, start, size, limit) > limit:
            raise LoaderError(
                f"the archive's directory holds over {limit:,} entries (its end record says {declared:,}); "
                + _TOO_MANY
            )


def _directory(stream: BinaryIO) -> tuple[int, int, int] | None:
    """(entries declared, where the directory starts, its size), as zipfile reads them: the end
    record is in the last 64 KB (its comment is at most that long), a Zip64 end record (for more
    than 65,535 entries) just before it."""
    end = stream.seek(0, 2)
    tail_start = max(0, end - _END_SIZE - _MAX_COMMENT)
    stream.seek(tail_start)
    tail = stream.read()
    at = tail.rfind(_END)
    if at < 0 or len(tail) - at < _END_SIZE:
        return None
    _, _, _, _, declared, size, _, _ = struct.unpack(_END_FORMAT, tail[at : at + _END_SIZE])
    record = tail_start + at
    locator = tail[at - _LOCATOR_SIZE : at] if at >= _LOCATOR_SIZE else b""
    if locator.startswith(_LOCATOR):
        _, _, offset, _ = struct.unpack(_LOCATOR_FORMAT, locator)
        stream.seek(offset)
        zip64 = stream.read(_END64_SIZE)
        if len(zip64) == _END64_SIZE and zip64.startswith(_END64):
            *_, declared, size, _ = struct.unpack(_END64_FORMAT, zip64)
            record -= _LOCATOR_SIZE + _END64_SIZE
    return declared, max(0, record - size), size


def _count(stream: BinaryIO, start: int, size: int, limit: int) -> int:
    """The directory's entries, counted header by header up to `limit` + 1 (its names, extra fields
    and comments are skipped, not read)."""
    stream.seek(start)
    count, used = 0, 0
    while used < size and count <= limit:
        header = stream.read(_ENTRY_SIZE)
        if len(header) < _ENTRY_SIZE or not header.startswith(_ENTRY):
            break  # not a directory entry: zipfile will say the archive is broken
        name, extra, comment = struct.unpack("<3H", header[28:34])
        stream.seek(name + extra + comment, 1)
        used += _ENTRY_SIZE + name + extra + comment
        count += 1
    return count
