"""HTML: the visible text, without scripts, styles and navigation; the title goes to metadata."""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup
from bs4.dammit import EncodingDetector
from lxml import etree

from ingest.loaders.base import DEFAULT_LIMITS, Limits, LoadedDocument, Section
from ingest.loaders.encoding import SNIFF_BYTES, decode

_DROP = ["script", "style", "nav", "noscript", "template", "svg", "iframe", "head"]
#: Elements that end a line when rendered; appending "\n" inside them is O(1) in BeautifulSoup.
_BLOCKS = [
    *("p", "div", "br", "li", "dt", "dd", "tr", "pre", "blockquote", "hr", "table", "caption"),
    *("section", "article", "header", "footer", "main", "aside", "figure", "figcaption", "form"),
    *("h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "address"),
]
_CELLS = ["td", "th"]
_FEED_CHARS = 1 << 16
#: What WHATWG browsers do with these labels: pages declared gb2312 routinely hold GBK characters.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "iso-8859-1": "cp1252", "ascii": "cp1252"}


class HtmlLoader:
    mime = "text/html"
    extensions = (".html", ".htm", ".xhtml")

    def load(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument:
        text = _decode_html(path.read_bytes())
        _check_depth(text, limits)
        soup = BeautifulSoup(text, "lxml")
        title = soup.title.get_text(" ", strip=True) if soup.title else ""
        for element in soup(_DROP):
            element.decompose()
        for element in soup(_BLOCKS):
            element.append("\n")
        for cell in soup(_CELLS):
            if cell.find_next_sibling(_CELLS):
                cell.append(" | ")
        sections = iter([Section(soup.get_text())])
        return LoadedDocument(mime=self.mime, sections=sections, metadata={"title": title} if title else {})


class _TooDeep(Exception):
    pass


class _DepthTarget:
    """An lxml parser target that only follows how deep the elements nest."""

    def __init__(self, limit: int) -> None:
        self.depth = 0
        self.limit = limit

    def start(self, tag: str, attrib: object) -> None:
        self.depth += 1
        if self.depth > self.limit:
            raise _TooDeep

    def end(self, tag: str) -> None:
        self.depth -= 1

    def close(self) -> None:
        return None


def _check_depth(text: str, limits: Limits) -> None:
    """Refuse HTML nested deeper than the limit before BeautifulSoup builds its tree: lxml's own
    events, no tree, stopped at the first element past the limit (a few ms for 100,000 levels,
    about 4% of the tree's build time for an ordinary page). Appending "\n" to an element below
    walks down to its last descendant, so a deep tree costs time quadratic in its depth (100,000
    levels: nearly 8 minutes), and a 100 MB file of unclosed tags would be 20 million nested
    elements in memory."""
    parser = etree.HTMLParser(target=_DepthTarget(limits.max_nesting))
    try:
        for start in range(0, len(text), _FEED_CHARS):
            parser.feed(text[start : start + _FEED_CHARS])
        parser.close()
    except _TooDeep:
        limits.check_nesting(limits.max_nesting + 1, "HTML")


def _decode_html(data: bytes) -> str:
    """A declared `<meta charset>` wins over detection, as it does in a browser."""
    declared = EncodingDetector.find_declared_encoding(data[:SNIFF_BYTES], is_html=True)
    if declared:
        try:
            return data.decode(_SUPERSETS.get(declared.lower(), declared), errors="replace")
        except LookupError:  # a label Python does not know: fall back to detection
            pass
    return decode(data)
