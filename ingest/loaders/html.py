"""HTML: the visible text, without scripts, styles and navigation; the title goes to metadata."""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup
from bs4.dammit import EncodingDetector

from ingest.loaders.base import DEFAULT_LIMITS, Limits, LoadedDocument, Section
from ingest.loaders.encoding import SNIFF_BYTES, decode
from ingest.loaders.html_shape import check_shape

_DROP = ["script", "style", "nav", "noscript", "template", "svg", "iframe", "head"]
#: Elements that end a line when rendered; appending "\n" inside them is O(1) in BeautifulSoup.
_BLOCKS = [
    *("p", "div", "br", "li", "dt", "dd", "tr", "pre", "blockquote", "hr", "table", "caption"),
    *("section", "article", "header", "footer", "main", "aside", "figure", "figcaption", "form"),
    *("h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "address"),
]
_CELLS = ["td", "th"]
#: What WHATWG browsers do with these labels: pages declared gb2312 routinely hold GBK characters.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "iso-8859-1": "cp1252", "ascii": "cp1252"}


class HtmlLoader:
    mime = "text/html"
    extensions = (".html", ".htm", ".xhtml")

    def load(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument:
        text = _decode_html(path.read_bytes())
        check_shape(text, limits)
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


def _decode_html(data: bytes) -> str:
    """A declared `<meta charset>` wins over detection, as it does in a browser."""
    declared = EncodingDetector.find_declared_encoding(data[:SNIFF_BYTES], is_html=True)
    if declared:
        try:
            return data.decode(_SUPERSETS.get(declared.lower(), declared), errors="replace")
        except LookupError:  # a label Python does not know: fall back to detection
            pass
    return decode(data)
