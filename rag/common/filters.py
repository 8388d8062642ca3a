"""Metadata filters: one grammar, parsed once, matched in Python or pushed down by each backend.

A filter is a JSON object `{key: value, ...}`; a chunk passes when every key matches (AND):

- a key names a chunk column (`kb`, `document_id`, `ordinal`) or else a key of the chunk's
  metadata, taken literally (a `.` is part of the name, not a path); it cannot contain `"`;
- a value is a string, a number or a boolean, and the field must equal it; a list of those
  matches when the field equals any item (OR), so an empty list matches nothing;
- equality is JSON's: a string equals only that string, numbers compare by value (`3` equals
  `3.0`), a boolean equals only a boolean (`true` is not `1`); a field that is missing, null,
  a list or an object equals nothing.

Anything else (null, an object, a nested list, NaN) is refused with a ValueError naming the key,
before any backend runs. The vector payload, the keyword SQL and the graph's Python check all
read this parsed form, so the three retrievers keep or drop the same chunks for one filter
(docs/retrieval.md, "Metadata filters", says where each backend checks it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rag.models import Chunk

Scalar = str | int | float | bool
#: chunk columns a filter may name; any other key is a metadata key
CHUNK_COLUMNS = ("kb", "document_id", "ordinal")


@dataclass(slots=True, frozen=True)
class Condition:
    """`key` equals one of `values`, split by JSON type for the backends that compare per type."""

    key: str
    texts: tuple[str, ...] = ()
    numbers: tuple[int | float, ...] = ()
    flags: tuple[bool, ...] = ()

    def accepts(self, actual: Any) -> bool:
        """Whether a field holding `actual` (None when missing) meets this condition."""
        if isinstance(actual, bool):
            return actual in self.flags
        if isinstance(actual, int | float):
            return actual in self.numbers
        if isinstance(actual, str):
            return actual in self.texts
        return False


@dataclass(slots=True, frozen=True)
class MetadataFilter:
    """Conditions that must all hold; no conditions keeps everything."""

    conditions: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def on(self, key: str) -> Condition | None:
        """The condition on `key`, for a backend that can only check that one field."""
        return next((c for c in self.conditions if c.key == key), None)


def parse(filters: Mapping[str, Any] | None) -> MetadataFilter:
    """The typed form of a filter object, or ValueError naming the key that breaks the grammar."""
    return MetadataFilter(tuple(_condition(key, value) for key, value in (filters or {}).items()))


def _condition(key: Any, value: Any) -> Condition:
    if not isinstance(key, str) or not key:
        raise ValueError(f"filter on {key!r}: a key must be a non-empty string")
    if '"' in key:
        raise ValueError(f"filter on {key!r}: a metadata key cannot contain '\"'")
    items = list(value) if isinstance(value, list | tuple | set) else [value]
    for item in items:
        scalar = isinstance(item, str | int | bool) or (isinstance(item, float) and math.isfinite(item))
        if not scalar:
            raise ValueError(
                f"filter on {key!r}: unsupported value {item!r} (use str, int, bool, float or a list)"
            )
    return Condition(
        key,
        texts=tuple(i for i in items if isinstance(i, str)),
        numbers=tuple(i for i in items if isinstance(i, int | float) and not isinstance(i, bool)),
        flags=tuple(i for i in items if isinstance(i, bool)),
    )


def matches(parsed: MetadataFilter, fields: Mapping[str, Any]) -> bool:
    """Whether a record whose filterable fields are `fields` passes (see `filterable`)."""
    return all(condition.accepts(fields.get(condition.key)) for condition in parsed.conditions)


def filterable(chunk: Chunk) -> dict[str, Scalar]:
    """What a filter sees of a chunk: its scalar metadata, then its columns (which win a clash).

    This is also the vector payload, so a filter pushed down to the vector store reads the same
    fields as one checked here."""
    fields: dict[str, Scalar] = {
        key: value for key, value in chunk.metadata.items() if isinstance(value, str | int | float | bool)
    }
    fields.update(kb=chunk.kb, document_id=chunk.document_id, ordinal=chunk.ordinal)
    return fields
