"""Word .docx: paragraphs and tables in document order, one section per heading."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import docx
from docx.document import Document
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingest.loaders.base import DEFAULT_LIMITS, Limits, LoadedDocument, LoaderError, Section
from ingest.loaders.headings import HeadedSections

_HEADING_STYLE = re.compile(r"Heading (\d)")


class DocxLoader:
    mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    extensions = (".docx",)

    def load(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument:
        try:
            document = docx.Document(str(path))
        except Exception as exc:  # zipfile, lxml and python-docx each raise their own kinds
            raise LoaderError(f"corrupt or unreadable Word document ({type(exc).__name__})") from exc
        title = document.core_properties.title
        return LoadedDocument(
            mime=self.mime, sections=_iter_sections(document), metadata={"title": title} if title else {}
        )


def _iter_sections(document: Document) -> Iterator[Section]:
    sections = HeadedSections()
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            sections.add(_table_text(block))
        elif (level := _heading_level(block)) is not None and block.text.strip():
            if closed := sections.heading(level, block.text.strip()):
                yield closed
        else:
            sections.add(block.text)
    if closed := sections.close():
        yield closed


def _heading_level(paragraph: Paragraph) -> int | None:
    """Word's built-in heading styles; "Title" sits above "Heading 1"."""
    style = paragraph.style
    name = (style.name if style is not None else None) or ""
    if name == "Title":
        return 0
    match = _HEADING_STYLE.fullmatch(name)
    return int(match.group(1)) if match else None


def _table_text(table: Table) -> str:
    """One line per row, cells joined by " | "; a merged cell is repeated by python-docx, kept once."""
    lines = []
    for row in table.rows:
        cells = []
        for cell in row.cells:
            if not cells or cell is not cells[-1]:
                cells.append(cell)
        lines.append(" | ".join(cell.text.strip() for cell in cells))
    return "\n".join(lines)
