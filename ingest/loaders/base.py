"""What every loader returns, and the error it raises for input it cannot read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag.config import Settings
from rag.models import Table


class LoaderError(Exception):
    """Input that cannot be ingested; the message is one line that a user can act on."""


def megabytes(size: int) -> str:
    """MB as the RAG_*_MB settings count them (2**20 bytes), so a limit shows as the user set it."""
    return f"{size / 2**20:.1f} MB" if size >= 2**17 else f"{size:,} bytes"


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True, slots=True)
class Limits:
    """How much of a hostile or broken file a loader reads before it refuses it: the settings of the
    same names (`Limits()` holds their defaults), so a zip bomb, a zip of a million entries, a
    million-row sheet, a page count in the tens of thousands, HTML of millions of elements or a PDF
    stream that inflates to gigabytes fails with a reason instead of exhausting memory or time."""

    max_unzipped_bytes: int = int(_default("max_unzipped_mb") * 2**20)
    max_table_rows: int = _default("max_table_rows")
    max_pdf_pages: int = _default("max_pdf_pages")
    max_nesting: int = _default("max_nesting")
    max_zip_entries: int = _default("max_zip_entries")
    max_html_elements: int = _default("max_html_elements")

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_unzipped_bytes=int(settings.max_unzipped_mb * 2**20),
            max_table_rows=settings.max_table_rows,
            max_pdf_pages=settings.max_pdf_pages,
            max_nesting=settings.max_nesting,
            max_zip_entries=settings.max_zip_entries,
            max_html_elements=settings.max_html_elements,
        )

    def check_rows(self, count: int, where: str) -> None:
        """Refuse a table once it has more rows than the limit; called as rows are read."""
        if count > self.max_table_rows:
            raise LoaderError(
                f"{where} has over {self.max_table_rows:,} rows; raise RAG_MAX_TABLE_ROWS to allow it"
            )

    def check_nesting(self, depth: int, what: str) -> None:
        if depth > self.max_nesting:
            raise LoaderError(
                f"{what} nested over {self.max_nesting} levels deep; raise RAG_MAX_NESTING to allow it"
            )


DEFAULT_LIMITS = Limits()


@dataclass(slots=True)
class Section:
    """A piece of a document's text with where it came from (page, sheet, heading...)."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class LoadedDocument:
    """A parsed document. `sections` is an iterator so large files stream through."""

    mime: str
    sections: Iterator[Section]
    tables: list[Table] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


class Loader(Protocol):
    """Turns one file into text sections (and tables where the format has them)."""

    mime: str
    extensions: tuple[str, ...]

    def load(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument: ...
