"""Markdown: markup stripped to plain text, one section per heading with its heading path.

markdown-it-py parses (CommonMark plus GFM tables) instead of regexes, so code spans, links
and tables come out as their text rather than as half-stripped syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ingest.loaders.base import DEFAULT_LIMITS, Limits, LoadedDocument, Section
from ingest.loaders.encoding import decode
from ingest.loaders.headings import HeadedSections

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_TAG = re.compile(r"<[^>]*>")
#: Inline children whose `content` is the text a reader sees.
_INLINE_TEXT = {"text", "code_inline", "image"}
#: Block tokens that hold text (html_block keeps its text, not its tags).
_BLOCK_TEXT = {"inline", "fence", "code_block", "html_block"}


class MarkdownLoader:
    mime = "text/markdown"
    extensions = (".md", ".markdown")

    def load(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument:
        text = decode(path.read_bytes())
        return LoadedDocument(mime=self.mime, sections=iter_markdown_sections(text))


def iter_markdown_sections(text: str) -> Iterator[Section]:
    sections = HeadedSections()
    lines: list[str] = []  # lines of the open list or table, added as one block when it closes
    row: list[str] = []
    depth = 0  # nesting of lists and tables
    tokens = _PARSER.parse(text)
    for index, token in enumerate(tokens):
        kind = token.type
        if kind == "heading_open":
            title = _inline_text(tokens[index + 1])
            if closed := sections.heading(int(token.tag[1]), title):
                yield closed
        elif kind in ("bullet_list_open", "ordered_list_open", "table_open"):
            depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close", "table_close"):
            depth -= 1
            if depth == 0:
                sections.add("\n".join(lines))
                lines = []
        elif kind == "tr_close":
            lines.append(" | ".join(row))
            row = []
        elif kind == "inline" and tokens[index - 1].type in ("th_open", "td_open"):
            row.append(_inline_text(token))
        elif kind in _BLOCK_TEXT and tokens[index - 1].type != "heading_open":
            content = _inline_text(token) if kind == "inline" else _TAG.sub("", token.content)
            if depth:
                lines.append(content)
            else:
                sections.add(content)
    if closed := sections.close():
        yield closed


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or ():
        if child.type in _INLINE_TEXT:
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)
