"""PDF: one section per page, {"page": n} from 1, so answers can cite pages.

Opening, decryption and the page count are checked in `load`, so those failures surface
before any work; page text is extracted lazily while the sections are consumed. The count is the
page tree's own `/Count`, read without visiting the pages (pypdf reads no more pages than it says).
What the pages' compressed streams inflate to is bounded for the whole document (`pdf_budget`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import DependencyError

from ingest.loaders.base import DEFAULT_LIMITS, Limits, LoadedDocument, LoaderError, Section
from ingest.loaders.pdf_budget import InflateBudget
from rag.common.reasons import one_line

_CORRUPT = "corrupt or unreadable PDF"


class PdfLoader:
    mime = "application/pdf"
    extensions = (".pdf",)

    def load(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument:
        try:
            reader = PdfReader(path)
            if reader.is_encrypted:
                _decrypt(reader)
            pages = len(reader.pages)
            if pages > limits.max_pdf_pages:
                raise LoaderError(
                    f"PDF of {pages:,} pages, over the {limits.max_pdf_pages:,} limit; "
                    "raise RAG_MAX_PDF_PAGES to allow it"
                )
            title = reader.metadata.title if reader.metadata else None
        except LoaderError:
            raise
        except Exception as exc:  # pypdf raises many kinds (KeyError, ValueError...) on broken files
            raise LoaderError(f"{_CORRUPT} ({one_line(exc)})") from exc
        metadata: dict[str, object] = {"pages": pages}
        if title:
            metadata["title"] = str(title)
        return LoadedDocument(
            mime=self.mime,
            sections=_iter_pages(reader, InflateBudget(limits.max_unzipped_bytes)),
            metadata=metadata,
        )


def _decrypt(reader: PdfReader) -> None:
    """Many PDFs are encrypted only against editing, with an empty password for reading."""
    try:
        opened = reader.decrypt("")
    except DependencyError as exc:
        raise LoaderError("encrypted PDF needs the 'cryptography' package to be read") from exc
    if not opened:
        raise LoaderError("password-protected PDF; remove the password and add it again")


def _iter_pages(reader: PdfReader, budget: InflateBudget) -> Iterator[Section]:
    found_text = False
    for number, page in enumerate(reader.pages, start=1):
        try:
            with budget.page(number, page):
                text = page.extract_text()
        except LoaderError:
            raise
        except Exception as exc:  # same breadth as above: one broken page stream fails the file
            raise LoaderError(f"{_CORRUPT} (page {number}: {one_line(exc)})") from exc
        if text.strip():
            found_text = True
            yield Section(text, {"page": number})
    if not found_text:
        raise LoaderError("PDF has no text layer (scanned images?); run OCR on it first")
