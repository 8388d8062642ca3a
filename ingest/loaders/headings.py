"""Sections cut at headings, shared by the formats that have headings (Markdown, Word).

Each section carries its heading path ("Install > Linux") so a chunk can cite where it sits.
"""

from __future__ import annotations

from ingest.loaders.base import Section


class HeadedSections:
    """Collects text blocks under the current heading path; a new heading closes the section."""

    def __init__(self) -> None:
        self._trail: list[tuple[int, str]] = []
        self._blocks: list[str] = []
        self._has_body = False

    def heading(self, level: int, title: str) -> Section | None:
        """Start a section under `title` at `level` (1 = top); returns the section it closes."""
        closed = self.close()
        while self._trail and self._trail[-1][0] >= level:
            self._trail.pop()
        self._trail.append((level, title))
        self._blocks.append(title)
        return closed

    def add(self, text: str) -> None:
        if text.strip():
            self._blocks.append(text)
            self._has_body = True

    def close(self) -> Section | None:
        """The section collected so far, or None when it holds no text besides its heading."""
        blocks, has_body = self._blocks, self._has_body
        self._blocks, self._has_body = [], False
        if not has_body:
            return None
        metadata = {"heading": " > ".join(title for _, title in self._trail)} if self._trail else {}
        return Section("\n\n".join(blocks), metadata)
