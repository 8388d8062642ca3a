"""What a PDF's compressed streams may inflate to, all pages together: a bound on stream bombs.

A content stream of FlateDecode'd zeros is about a thousandth of what it inflates to. pypdf caps
one stream (75 MB inflated, its `Configuration`) but keeps every stream it decoded for as long as
the reader lives, so a 0.7 MB file of ten pages, each with its own 70 MB stream, took 27 s and
910 MB, and a hundred such pages would take 9 GB. Here the whole document shares one budget,
RAG_MAX_UNZIPPED_MB (what an Office file may inflate to as well):

- before each page, pypdf's per-stream output limits are lowered to what is left of the budget
  (never raised above pypdf's own), so a stream that passes it stops inflating where it does;
- after each page, what its content streams and form XObjects inflated to is counted, and the
  page's own content streams are released: they are read once, and pypdf would keep them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pypdf import PageObject, apply_configuration, get_configuration
from pypdf.errors import LimitReachedError
from pypdf.generic import ArrayObject, DictionaryObject, EncodedStreamObject, PdfObject

from ingest.loaders.base import LoaderError, megabytes

#: pypdf's limits on what one stream may inflate to, one per filter, and on a stream's decoding work
_OUTPUT_LIMITS = (
    "zlib_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "brotli_maximum_output_length",
    "array_based_stream_maximum_output_length",
    "stream_decoding_work_maximum_length",
)
#: how pypdf's messages start when one of those limits is reached
_INFLATING = (
    "Limit reached while decompressing",
    "Array-based stream has at least",
    "Stream decoding exceeded",
)
#: form XObjects inside form XObjects are followed this deep (pypdf's own text extraction stops too)
_FORM_DEPTH = 8


class InflateBudget:
    """The bytes a document's streams may still inflate to; one per PDF being read."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.inflated = 0
        self._counted: set[int] = set()

    @contextmanager
    def page(self, number: int, page: PageObject) -> Iterator[None]:
        """Read one page within what is left: pypdf's limits lowered around it, its streams counted
        and released after it, and pypdf's `LimitReachedError` turned into the budget's error."""
        left = max(1, self.max_bytes - self.inflated)  # 0 would mean no limit to pypdf
        current = get_configuration()
        own = min(getattr(current, name) or left for name in _OUTPUT_LIMITS)
        try:
            with apply_configuration(
                **{name: min(getattr(current, name) or left, left) for name in _OUTPUT_LIMITS}
            ):
                yield
        except LimitReachedError as exc:
            if not str(exc).startswith(_INFLATING):
                raise  # another of pypdf's limits (tokens, page tree): the file is corrupt or hostile
            if own < left:
                raise LoaderError(
                    f"page {number}: a compressed stream inflates past {megabytes(own)}, pypdf's limit "
                    "for one stream (a stream bomb?)"
                ) from None
            raise self._exceeded(number) from None
        self._count(page, number)

    def _count(self, page: PageObject, number: int) -> None:
        contents = page.get("/Contents")
        for stream in _streams(contents.get_object() if contents is not None else None):
            if stream.decoded_self is not None:
                self.inflated += len(stream.decoded_self.get_data())
                stream.decoded_self = None  # read once; pypdf would keep it as long as the reader
        for form in _forms(page, _FORM_DEPTH, set()):
            if form.decoded_self is not None and id(form) not in self._counted:
                self._counted.add(id(form))  # may be shared by many pages: kept, counted once
                self.inflated += len(form.decoded_self.get_data())
        if self.inflated > self.max_bytes:
            raise self._exceeded(number)

    def _exceeded(self, number: int) -> LoaderError:
        return LoaderError(
            f"the PDF's compressed streams inflate past the {megabytes(self.max_bytes)} limit by page "
            f"{number} (a stream bomb?); raise RAG_MAX_UNZIPPED_MB to allow it"
        )


def _streams(contents: PdfObject | None) -> Iterator[EncodedStreamObject]:
    """A page's content streams: one stream or an array of them."""
    items = contents if isinstance(contents, ArrayObject) else [contents]
    for item in items:
        stream = item.get_object() if item is not None else None
        if isinstance(stream, EncodedStreamObject):
            yield stream


def _forms(holder: DictionaryObject, depth: int, seen: set[int]) -> Iterator[EncodedStreamObject]:
    """The form XObjects a page or form draws, and theirs, `depth` levels down, each once."""
    resources = holder.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    xobjects = resources.get("/XObject") if isinstance(resources, DictionaryObject) else None
    xobjects = xobjects.get_object() if xobjects is not None else None
    if depth == 0 or not isinstance(xobjects, DictionaryObject):
        return
    for reference in xobjects.values():
        form = reference.get_object()
        if isinstance(form, EncodedStreamObject) and form.get("/Subtype") == "/Form" and id(form) not in seen:
            seen.add(id(form))
            yield form
            yield from _forms(form, depth - 1, seen)
