"""Pick the loader for a file by its extension, after checking that the content fits the extension.

`load` raises `LoaderError` for what it can tell up front (size, emptiness, content that is
not what the extension says, an archive that lists over `Limits.max_zip_entries` entries or would
inflate past `Limits.max_unzipped_bytes`);
the loaders enforce the other `Limits` as they read. Problems found deeper in a file (a broken
PDF page, a scan with no text layer) raise `LoaderError` while `sections` is consumed.
Messages are one line and never name the file: the caller adds it.

Loader modules are imported on first use, so importing the registry does not pull in pypdf,
python-docx or BeautifulSoup.
"""

from __future__ import annotations

import codecs
import importlib
from pathlib import Path

from ingest.loaders.archive import check_archive, describe_archive
from ingest.loaders.base import (
    DEFAULT_LIMITS,
    Limits,
    LoadedDocument,
    Loader,
    LoaderError,
    Section,
    megabytes,
)
from ingest.loaders.encoding import bom_encoding

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Limits",
    "LoadedDocument",
    "Loader",
    "LoaderError",
    "Section",
    "load",
    "loader_for",
]

#: extension -> (module in this package, class, what the content must look like)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    ".txt": ("text", "TextLoader", "text"),
    ".text": ("text", "TextLoader", "text"),
    ".log": ("text", "TextLoader", "text"),
    ".md": ("markdown", "MarkdownLoader", "text"),
    ".markdown": ("markdown", "MarkdownLoader", "text"),
    ".html": ("html", "HtmlLoader", "text"),
    ".htm": ("html", "HtmlLoader", "text"),
    ".xhtml": ("html", "HtmlLoader", "text"),
    ".json": ("json", "JsonLoader", "text"),
    ".csv": ("csv", "CsvLoader", "text"),
    ".tsv": ("csv", "CsvLoader", "text"),
    ".pdf": ("pdf", "PdfLoader", "pdf"),
    ".docx": ("docx", "DocxLoader", "zip"),
    ".xlsx": ("xlsx", "XlsxLoader", "zip"),
    ".xlsm": ("xlsx", "XlsxLoader", "zip"),
}
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_REGISTRY)

_HEAD_BYTES = 8192
#: Signatures of binary formats, to name what a misnamed file really is.
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAGIC = {
    b"%PDF-": "PDF",
    _ZIP: "zip archive or Office document",
    _OLE: "legacy or password-protected Office document",
    b"\x89PNG": "PNG image",
    b"\xff\xd8\xff": "JPEG image",
    b"GIF8": "GIF image",
    b"\x1f\x8b": "gzip archive",
    b"\x7fELF": "executable",
    b"7z\xbc\xaf": "7z archive",
    b"Rar!": "RAR archive",
}
#: Text formats that markup cannot be: an HTML page saved as `.json` is refused, not parsed as JSON.
_NOT_MARKUP = {".json": "JSON", ".csv": "CSV", ".tsv": "TSV"}
_MARKUP = ((b"<!doctype html", "HTML"), (b"<html", "HTML"), (b"<?xml", "XML"))
#: C0 control bytes that never occur in text (tab, newline, form feed, carriage return, escape do).
_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13, 27})


def loader_for(path: Path) -> Loader:
    """The loader registered for the file's extension."""
    entry = _REGISTRY.get(path.suffix.lower())
    if entry is None:
        shown = path.suffix or "(no extension)"
        raise LoaderError(f"unsupported file type {shown}; supported: {', '.join(sorted(_REGISTRY))}")
    module, name, _ = entry
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)()


def load(path: Path, max_bytes: int | None = None, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument:
    """Open one file. `max_bytes` is the size limit (RAG_MAX_FILE_MB * 2**20); None means no limit."""
    loader = loader_for(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            head = stream.read(_HEAD_BYTES)
    except OSError as exc:
        raise LoaderError(f"cannot read the file: {exc.strerror or exc}") from exc
    if size == 0:
        raise LoaderError("empty file")
    if max_bytes is not None and size > max_bytes:
        limit = megabytes(max_bytes)
        raise LoaderError(
            f"file is {megabytes(size)}, over the {limit} limit; raise RAG_MAX_FILE_MB to allow it"
        )
    extension = path.suffix.lower()
    _check_content(_REGISTRY[extension][2], extension, head, path, limits)
    if _REGISTRY[extension][2] == "zip":
        check_archive(path, extension, limits.max_unzipped_bytes, limits.max_zip_entries)
    return loader.load(path, limits)


def _check_content(expected: str, extension: str, head: bytes, path: Path, limits: Limits) -> None:
    """Refuse content that contradicts the extension, naming what it looks like instead."""
    found = next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)
    if found and head.startswith(_ZIP):
        found = describe_archive(path, limits.max_zip_entries)
    check = "check the file's extension"
    if expected == "pdf" and b"%PDF-" not in head[:1024]:
        raise LoaderError(f"not a PDF (content is {found or 'something else'}); {check}")
    if expected == "zip" and not head.startswith(_ZIP):
        hint = f"save it as an unprotected {extension}" if head.startswith(_OLE) else check
        raise LoaderError(f"not a valid {extension} file (content is {found or 'not a zip archive'}); {hint}")
    if expected == "text" and (found or _looks_binary(head)):
        raise LoaderError(f"binary content ({found or 'not text'}) in a {extension} file; {check}")
    if extension in _NOT_MARKUP:
        start = head.removeprefix(codecs.BOM_UTF8).lstrip()[:16].lower()
        if markup := next((kind for magic, kind in _MARKUP if start.startswith(magic)), None):
            raise LoaderError(f"not {_NOT_MARKUP[extension]} (content is {markup}); {check}")


def _looks_binary(head: bytes) -> bool:
    """NUL bytes or many control bytes; UTF-16/32 text (with its byte-order mark) is exempt."""
    if bom_encoding(head) in ("utf-16", "utf-32"):
        return False
    return b"\x00" in head or len(head) - len(head.translate(None, _CONTROL)) > len(head) // 100
