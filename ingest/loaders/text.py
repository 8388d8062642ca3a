"""Plain text, streamed: a 50 MB log never sits in memory whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ingest.loaders.base import DEFAULT_LIMITS, Limits, LoadedDocument, Section
from ingest.loaders.encoding import iter_decode

#: Bytes read per step; a section holds one or two steps' worth of text.
BLOCK_BYTES = 1 << 20


class TextLoader:
    mime = "text/plain"
    extensions = (".txt", ".text", ".log")

    def load(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument:
        return LoadedDocument(mime=self.mime, sections=iter_text_sections(path))


def iter_text_sections(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[Section]:
    """Sections of at least half a block of characters (the last may be shorter), each ending
    at a line end so no line is split; a line longer than two blocks (a minified dump) is cut
    anyway to keep memory bounded. A file under half a block is one section."""
    buffer = ""
    with path.open("rb") as stream:
        for piece in iter_decode(stream, block_bytes):
            buffer += piece
            if len(buffer) < block_bytes // 2:
                continue
            cut = buffer.rfind("\n") + 1
            if cut == 0 and len(buffer) >= 2 * block_bytes:
                cut = len(buffer)
            if cut:
                yield Section(buffer[:cut])
                buffer = buffer[cut:]
    if buffer:
        yield Section(buffer)
