"""JSON: flattened to "a.b[0].c: value" lines for search; an array of flat objects is also a table.

The path on every line keeps a value's meaning when a chunk holds only part of the document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.loaders.base import DEFAULT_LIMITS, Limits, LoadedDocument, LoaderError, Section
from ingest.loaders.encoding import decode
from ingest.tables import table_from_records
from rag.models import Table

#: Characters per section, the same scale as streamed text: the chunker works section by section.
SECTION_CHARS = 1 << 20
_SCALARS = (str, int, float, bool, type(None))


class JsonLoader:
    mime = "application/json"
    extensions = (".json",)

    def load(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument:
        try:
            data = json.loads(decode(path.read_bytes()))
        except json.JSONDecodeError as exc:
            raise LoaderError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
        except RecursionError:
            raise LoaderError(
                f"JSON nested deeper than the parser reads (about {sys.getrecursionlimit():,} levels)"
            ) from None
        limits.check_nesting(_depth(data, limits.max_nesting), "JSON")
        return LoadedDocument(
            mime=self.mime, sections=_iter_sections(data), tables=_tables(path.stem, data, limits)
        )


def _depth(data: Any, limit: int) -> int:
    """How deep `data` nests, counted without recursion and only up to just past `limit`: the
    flattening below recurses once per level."""
    deepest = 0
    stack = [(data, 1)]
    while stack and deepest <= limit:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def _tables(name: str, data: Any, limits: Limits) -> list[Table]:
    """A non-empty array whose items are all objects of scalar values becomes one table."""
    if not (isinstance(data, list) and data and all(_is_flat_record(item) for item in data)):
        return []
    limits.check_rows(len(data), "the JSON array")
    return [table_from_records(name, data)]


def _is_flat_record(item: Any) -> bool:
    return isinstance(item, dict) and bool(item) and all(isinstance(v, _SCALARS) for v in item.values())


def _iter_sections(data: Any) -> Iterator[Section]:
    lines: list[str] = []
    size = 0
    for line in _iter_lines(data):
        lines.append(line)
        size += len(line) + 1
        if size >= SECTION_CHARS:
            yield Section("\n".join(lines))
            lines, size = [], 0
    if lines:
        yield Section("\n".join(lines))


def _iter_lines(data: Any) -> Iterator[str]:
    """Items of a top-level array are separated by a blank line, so records read apart."""
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item, "")
            yield ""
    else:
        yield from _flatten(data, "")


def _flatten(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _flatten(item, f"{path}[{index}]")
    else:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        yield f"{path}: {text}" if path else text
