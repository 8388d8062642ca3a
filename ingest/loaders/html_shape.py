"""How deep and how wide an HTML document is, checked before BeautifulSoup builds its tree.

BeautifulSoup's tree is where hostile HTML costs: appending "\n" to an element below walks down to
its last descendant, so a deep tree costs time quadratic in its depth (100,000 levels: nearly 8
minutes), and it keeps about 1.4 KB per element, so a 16 MB page of two million `<p>x</p>`
siblings took 50 s and 2.9 GB (a 100 MB one would take 18 GB); attributes cost as much each. lxml's
own parser events, with no tree, count both and stop at the first element past a limit (a few ms
for 100,000 levels, about 4% of the tree's build time for an ordinary page).

One start tag is handed over whole, though: libxml2 and lxml hold all of its attributes (about 200
bytes each) before the count sees them, so one element of five million attributes (59 MB) peaked
at 1.1 GB before its count refused it (with no check at all: 17 s and 1.8 GB). Start tags over
64 KB (a handful in a page, most of them an inline image's data URI) are therefore found first
with one regular expression and their attributes counted in the text: 0.5 s and 157 MB.
"""

from __future__ import annotations

import re

from lxml import etree

from ingest.loaders.base import Limits, LoaderError

_FEED_CHARS = 1 << 16
#: A start tag: up to its first `>` outside quotes. Possessive, so each character is looked at once.
_START_TAG = re.compile(r"""<[A-Za-z](?:[^>"']++|"[^"]*+"|'[^']*+')*+""")
_LONG_TAG = 1 << 16
#: an attribute in a start tag: a name, and `=` with a value, if any (the tag's name matches too)
_ATTRIBUTE = re.compile(r"""[^\s="']++(?:\s*+=\s*+(?:"[^"]*+"|'[^']*+'|[^\s"']*+))?|"[^"]*+"|'[^']*+'""")


class _TooDeep(Exception):
    pass


class _TooMany(Exception):
    pass


class _ShapeTarget:
    """An lxml parser target that only follows how deep the elements nest and how many there are
    (each attribute counted as one more element)."""

    def __init__(self, limits: Limits) -> None:
        self.depth = 0
        self.nodes = 0
        self.limits = limits

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        self.nodes += 1 + len(attrib)
        if self.depth > self.limits.max_nesting:
            raise _TooDeep
        if self.nodes > self.limits.max_html_elements:
            raise _TooMany

    def end(self, tag: str) -> None:
        self.depth -= 1

    def close(self) -> None:
        return None


def check_shape(text: str, limits: Limits) -> None:
    """Refuse HTML nested deeper than `limits.max_nesting`, or holding more elements and attributes
    together than `limits.max_html_elements`."""
    try:
        _count_long_tags(text, limits.max_html_elements)
        parser = etree.HTMLParser(target=_ShapeTarget(limits))
        for start in range(0, len(text), _FEED_CHARS):
            parser.feed(text[start : start + _FEED_CHARS])
        parser.close()
    except _TooDeep:
        limits.check_nesting(limits.max_nesting + 1, "HTML")
    except _TooMany:
        raise LoaderError(
            f"HTML of over {limits.max_html_elements:,} elements (attributes counted as elements); "
            "raise RAG_MAX_HTML_ELEMENTS to allow it"
        ) from None


def _count_long_tags(text: str, limit: int) -> None:
    """Raise `_TooMany` when the attributes of the start tags over 64 KB pass `limit` together."""
    count = 0
    for tag in _START_TAG.finditer(text):
        if tag.end() - tag.start() <= _LONG_TAG:
            continue
        for _ in _ATTRIBUTE.finditer(text, tag.start() + 1, tag.end()):  # read in place, not copied
            count += 1
            if count > limit + 1:  # the tag's name is one match too
                raise _TooMany
