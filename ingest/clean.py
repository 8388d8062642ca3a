"""Text normalisation before chunking: the junk that loaders let through, removed cheaply.

"NFKC-lite": full NFKC would also turn Chinese full-width punctuation (，！？) into ASCII and
change what users see quoted back; only the harmless parts are applied here (Unicode spaces
become a space, ligatures from PDFs are spelled out). Every step is one compiled regex or a
C-level string method, because this runs over every ingested byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ingest.loaders.base import Section

#: Control characters except tab and newline (\r and \f are handled first), DEL, C1 controls,
#: soft hyphen, zero-width characters and the BOM (U+FEFF); deleted.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]+"
)
#: Unicode spaces (no-break, en/em, ideographic...) read as a plain space.
_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
_HAS_LIGATURE = re.compile(r"[\ufb00-\ufb06]")
_LINE_BREAKS = re.compile(r"\r\n?|[\f\v\u2028\u2029\x85]")
_RUN_OF_SPACES = re.compile(r"[ \t]{2,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """Normalised text: "\\n" line ends, at most one blank line in a row, single spaces, no
    invisible characters, no leading or trailing whitespace."""
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    if not text.isascii():
        text = _SPACES.sub(" ", text)
        if _HAS_LIGATURE.search(text):
            text = text.translate(_LIGATURES)
    text = _RUN_OF_SPACES.sub(" ", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def clean_sections(sections: Iterable[Section]) -> Iterator[Section]:
    """`clean_text` over a stream of sections, keeping their metadata; drops sections left empty."""
    for section in sections:
        if text := clean_text(section.text):
            yield Section(text, section.metadata)
