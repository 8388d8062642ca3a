"""What every loader returns, and the error it raises for input it cannot read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag.models import Table


class LoaderError(Exception):
    """Input that cannot be ingested; the message is one line that a user can act on."""


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

    def load(self, path: Path) -> LoadedDocument: ...
