"""Office files are zip archives: read their directory before anything is inflated.

Three questions are answered before a parser opens the archive:

- how many entries it lists, from the end of its directory before zipfile reads the directory
  (`zipdir`): a `.docx` of a million empty entries cost 620 MB and 19 s before;
- how large the archive inflates to. A 3 MB `.docx` can hold a `document.xml` of 3 GB (it drove
  an ingest to 6.4 GB of resident memory before lxml refused it). The sizes the directory
  declares are summed and checked against the limit, then every member is inflated a block at
  a time to check its CRC, which catches a directory that understates a member (`_inflate`);
- what the archive really is, from `[Content_Types].xml` (or an OpenDocument `mimetype`): a
  workbook named `.docx`, a Word file named `.xlsx`, a presentation, an OpenDocument file or a
  plain zip each fail with what they are, instead of a parser's KeyError.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

from ingest.loaders.base import LoaderError, megabytes
from ingest.loaders.zipdir import check_entry_count
from rag.common.reasons import one_line

#: The main part's content type names the application: wordprocessingml / ms-word (and so on).
_MAIN_PART = re.compile(
    rb'ContentType="application/vnd\.(?:openxmlformats-officedocument\.(\w+?)ml|ms-(\w+))\.[\w.]*main\+xml"'
)
_KINDS = {
    b"wordprocessing": "Word document",
    b"word": "Word document",
    b"spreadsheet": "Excel workbook",
    b"excel": "Excel workbook",
    b"presentation": "PowerPoint presentation",
    b"powerpoint": "PowerPoint presentation",
}
#: What each extension's loader reads.
EXPECTED = {".docx": "Word document", ".xlsx": "Excel workbook", ".xlsm": "Excel workbook"}
_BLOCK = 1 << 20
#: What zipfile raises on a broken archive: bad CRC or headers, cut short, bad deflate data,
#: encrypted (a password is needed), an unknown compression method.
_BROKEN = (zipfile.BadZipFile, EOFError, zlib.error, RuntimeError, NotImplementedError)
_OFFICE_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
#: `[Content_Types].xml` is a few KB; no more than this is read of it to find the kind.
_TYPES_BYTES = 1 << 20


def check_archive(path: Path, extension: str, max_unzipped_bytes: int, max_entries: int) -> None:
    """Refuse an archive that lists too many entries, would inflate past the limit, or is not the
    kind its extension says."""
    check_entry_count(path, max_entries)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            inflated = sum(member.file_size for member in members)
            if inflated > max_unzipped_bytes:
                largest = max(members, key=lambda member: member.file_size)
                raise LoaderError(
                    f"the archive inflates to {megabytes(inflated)} ({largest.filename!r} alone "
                    f"{megabytes(largest.file_size)}), over the {megabytes(max_unzipped_bytes)} limit (a zip "
                    "bomb?); raise RAG_MAX_UNZIPPED_MB to allow it"
                )
            if odd := next((m for m in members if m.compress_type not in _OFFICE_COMPRESSION), None):
                # bzip2, lzma: no bound on what one block inflates to (see `_inflate`)
                raise LoaderError(
                    f"{odd.filename!r} uses a compression Office files do not use ({odd.compress_type})"
                )
            kind = _kind(archive)
            if kind != EXPECTED[extension]:
                raise LoaderError(
                    f"not a valid {extension} file (content is {_article(kind)}); check the file's extension"
                )
            for member in members:
                _inflate(archive, member)
    except _BROKEN as exc:
        reason = one_line(exc)
        raise LoaderError(f"corrupt or unreadable {EXPECTED[extension]} ({extension}: {reason})") from None


def _inflate(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Inflate one member a block at a time and throw it away, so its CRC is checked. The parsers
    read a member whole (`ZipFile.read`), and zipfile inflates all of it in one call before it cuts
    the output to the declared size: a directory that understates a member would let a bomb
    through the check of the sizes. Read in blocks, the output stops at the declared size and the
    CRC check fails instead. Office files use only stored and deflated members; others (bzip2,
    lzma) were refused before."""
    with archive.open(member) as stream:
        while stream.read(_BLOCK):
            pass


def describe_archive(path: Path, max_entries: int) -> str:
    """What a zip archive holds, for the error of a file whose extension says otherwise; one of
    too many entries is not opened to find out."""
    try:
        check_entry_count(path, max_entries)
    except LoaderError:
        return "a zip archive of too many entries"
    except OSError:
        return "a corrupt zip archive"
    try:
        with zipfile.ZipFile(path) as archive:
            return _article(_kind(archive))
    except (*_BROKEN, OSError):
        return "a corrupt zip archive"


def _kind(archive: zipfile.ZipFile) -> str:
    names = set(archive.namelist())
    if "[Content_Types].xml" in names:
        if match := _MAIN_PART.search(_head(archive, "[Content_Types].xml")):
            return _KINDS.get((match.group(1) or match.group(2)).lower(), "Office document")
        return "Office document of an unknown kind"
    if "mimetype" in names:
        mimetype = _head(archive, "mimetype").decode("ascii", "replace")
        if mimetype.startswith("application/vnd.oasis.opendocument."):
            return "OpenDocument file (" + mimetype.rsplit(".", 1)[-1] + ")"
        if mimetype == "application/epub+zip":
            return "EPUB book"
    return "zip archive"


def _head(archive: zipfile.ZipFile, name: str) -> bytes:
    """The start of a small member, read with a bound: `ZipFile.read` would inflate a bomb whole."""
    if archive.getinfo(name).compress_type not in _OFFICE_COMPRESSION:
        return b""
    with archive.open(name) as stream:
        return stream.read(_TYPES_BYTES)


def _article(kind: str) -> str:
    return ("an " if kind[0] in "AEIOU" else "a ") + kind
