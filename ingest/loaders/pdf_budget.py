"""What a PDF's compressed streams may inflate to, all pages together: a bound on stream bombs.

A content stream of FlateDecode'd zeros is about a thousandth of what it inflates to. pypdf caps
one stream (75 MB inflated, its `Configuration`) but keeps every stream it decoded for as long as
the reader lives, so a 0.7 MB file of ten pages, each with its own 70 MB stream, took 27 s and
910 MB, and a hundred such pages would take 9 GB. And it parses a form XObject again each time a
page draws it: one 60 MB form drawn by 100 pages took 200 s (5,000 pages: three hours). Here the
whole document shares one budget, RAG_MAX_UNZIPPED_MB (what an Office file may inflate to too):

- before each page, pypdf's per-stream output limits are lowered to what is left of the budget
  (never raised above pypdf's own), so a stream that passes it stops inflating where it does; a
  form that passes it, which pypdf would leave out with a warning, fails the document all the same;
- before pypdf parses a page, its content streams and the form XObjects they draw (`/Name Do`)
  are inflated and counted, each form as many times as it is drawn, as pypdf parses it as many
  times; after the page, its content streams are released (read once; pypdf would keep them).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from pypdf import PageObject, apply_configuration, get_configuration
from pypdf.errors import LimitReachedError
from pypdf.generic import ArrayObject, DictionaryObject, EncodedStreamObject, PdfObject, StreamObject

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
#: a content stream drawing an XObject: its name, white space (NUL is white space to PDF), `Do`
_DRAW = re.compile(rb"/([^\s\x00/\[\]()<>{}%]+)[\s\x00]*Do(?![^\s\x00/\[\]()<>{}%])")


class _InflateWarnings(logging.Handler):
    """Notes when pypdf, on this thread, skipped a stream at an output limit and only warned (a
    form XObject it cannot decode is left out of the page's text)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and any(start in record.getMessage() for start in _INFLATING):
            self.seen = True


class InflateBudget:
    """The bytes a document's streams may still inflate to; one per PDF being read."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.inflated = 0

    @contextmanager
    def page(self, number: int, page: PageObject) -> Iterator[None]:
        """Read one page within what is left: pypdf's limits lowered around it, its streams and the
        forms they draw inflated and counted before pypdf parses them (a form drawn 5,000 times is
        parsed 5,000 times), its own streams released after it, and an output limit pypdf reached
        (raised, or only warned of) turned into the budget's error."""
        left = max(1, self.max_bytes - self.inflated)  # 0 would mean no limit to pypdf
        current = get_configuration()
        own = min(getattr(current, name) or left for name in _OUTPUT_LIMITS)
        warnings, pypdf_log = _InflateWarnings(), logging.getLogger("pypdf")
        pypdf_log.addHandler(warnings)
        contents = page.get("/Contents")
        streams = list(_streams(contents.get_object() if contents is not None else None))
        try:
            with apply_configuration(
                **{name: min(getattr(current, name) or left, left) for name in _OUTPUT_LIMITS}
            ):
                for stream in streams:
                    data = stream.get_data()  # pypdf keeps it for the page's text, then it is released
                    if isinstance(stream, EncodedStreamObject):
                        self._add(len(data), number)
                    self._add_forms(page, data, 1, number, _FORM_DEPTH)
                yield
        except LimitReachedError as exc:
            if not str(exc).startswith(_INFLATING):
                raise  # another of pypdf's limits (tokens, page tree): the file is corrupt or hostile
            raise self._limit_reached(number, own, left) from None
        finally:
            pypdf_log.removeHandler(warnings)
            for stream in streams:
                if isinstance(stream, EncodedStreamObject):
                    stream.decoded_self = None  # read once; pypdf would keep it as long as the reader
        if warnings.seen:
            raise self._limit_reached(number, own, left)

    def _limit_reached(self, number: int, own: int, left: int) -> LoaderError:
        if own < left:
            return LoaderError(
                f"page {number}: a compressed stream inflates past {megabytes(own)}, pypdf's limit "
                "for one stream (a stream bomb?)"
            )
        return self._exceeded(number)

    def _add_forms(self, holder: DictionaryObject, data: bytes, times: int, number: int, depth: int) -> None:
        """Inflate and count the forms `data` draws, each as often as it is drawn (`times` over for
        a form drawn inside another), and the forms they draw in turn, `depth` levels down."""
        forms = _forms(holder)
        if not forms or depth == 0:
            return
        for name, count in Counter(match.group(1) for match in _DRAW.finditer(data)).items():
            form = forms.get("/" + name.decode("latin-1"))
            if form is None:  # an image, or a name the page does not define
                continue
            try:
                inner = form.get_data()  # kept by pypdf, which reuses it for every page drawing it
            except LimitReachedError:
                raise
            except Exception:  # a broken form: pypdf leaves it out of the text with a warning
                continue
            self._add(len(inner) * count * times, number)
            self._add_forms(form, inner, count * times, number, depth - 1)

    def _add(self, size: int, number: int) -> None:
        self.inflated += size
        if self.inflated > self.max_bytes:
            raise self._exceeded(number)

    def _exceeded(self, number: int) -> LoaderError:
        return LoaderError(
            f"the PDF's compressed streams inflate past the {megabytes(self.max_bytes)} limit by page "
            f"{number} (a stream bomb?); raise RAG_MAX_UNZIPPED_MB to allow it"
        )


def _streams(contents: PdfObject | None) -> Iterator[StreamObject]:
    """A page's content streams: one stream or an array of them."""
    items = contents if isinstance(contents, ArrayObject) else [contents]
    for item in items:
        stream = item.get_object() if item is not None else None
        if isinstance(stream, StreamObject):
            yield stream


def _forms(holder: DictionaryObject) -> dict[str, EncodedStreamObject]:
    """The form XObjects a page's or a form's resources name, by name (`/X0`)."""
    resources = holder.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    xobjects = resources.get("/XObject") if isinstance(resources, DictionaryObject) else None
    xobjects = xobjects.get_object() if xobjects is not None else None
    if not isinstance(xobjects, DictionaryObject):
        return {}
    forms = {}
    for name, reference in xobjects.items():
        form = reference.get_object()
        if isinstance(form, EncodedStreamObject) and form.get("/Subtype") == "/Form":
            forms[str(name)] = form
    return forms
