"""What the relational store returns: one frozen dataclass per kind of row a caller reads.

Callers get named, typed fields instead of `dict[str, Any]`; the interfaces that show these rows
(the HTTP API, `rag … --json`) turn them into JSON with `dataclasses.asdict`, so the field order
here is the key order of their output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rag.models import Turn


@dataclass(slots=True, frozen=True)
class LedgerEntry:
    """What the ledger knows of one document, enough to decide new / changed / resume."""

    id: str
    kb: str
    source: str
    content_hash: str
    status: str
    chunk_count: int
    #: the vector collection holding its chunk vectors (None: not all there, or never recorded)
    vectors_in: str | None = None


@dataclass(slots=True, frozen=True)
class KnowledgeBase:
    """A knowledge base and how many documents its ledger holds."""

    name: str
    description: str
    created_at: datetime
    documents: int


@dataclass(slots=True, frozen=True)
class DocumentDetails:
    """What a client may see of a document: its state, the stage and error of a failure, size, times."""

    id: str
    kb: str
    source: str
    status: str
    stage: str | None
    error: str | None
    size: int
    chunk_count: int
    #: of `chunk_count`, how many are embedded and in the graph (all of them once `done`)
    chunks_indexed: int
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True, frozen=True)
class FailedDocument:
    """A document that failed, the stage it failed in and the reason."""

    source: str
    stage: str | None
    error: str | None


@dataclass(slots=True, frozen=True)
class KbStats:
    """A KB's ledger in numbers (documents by state, chunks, tables) and its latest failures."""

    documents: dict[str, int]
    chunks: int
    tables: int
    failed: list[FailedDocument]


@dataclass(slots=True, frozen=True)
class CatalogueTable:
    """One ingested table as text-to-SQL sees it: its stored and file names, columns and samples.

    `name` is the qualified SQL name (`kb_sales.orders` or `kb_sales__orders`); `columns` are
    `{"name", "type"}` pairs and `sample_rows` the first rows, as stored in the catalogue's JSON.
    """

    id: str
    kb: str
    document_id: str
    name: str
    source_name: str
    description: str
    columns: list[dict[str, str]]
    sample_rows: list[list[Any]]
    row_count: int
    source: str


@dataclass(slots=True, frozen=True)
class LearnedWeights:
    """A KB's fusion weights as its pseudo-queries taught them, and what they were learned from."""

    kb: str
    weights: dict[str, float]
    queries: int
    #: the KB's chunk count at the fit: a KB grown or shrunk much since is fitted again
    chunks: int
    #: per weight vector tried, its score on the pseudo-queries (for `rag status` and the docs)
    report: dict[str, Any]
    fitted_at: datetime


@dataclass(slots=True, frozen=True)
class ConversationTurn:
    """One stored question with its answer: what was searched for, the citations as the answer's
    JSON shows them, and why it abstained (None when it did not)."""

    ordinal: int
    question: str
    retrieval_question: str
    answer: str
    citations: list[dict[str, Any]]
    abstained: str | None
    created_at: datetime


@dataclass(slots=True, frozen=True)
class Conversation:
    """A stored conversation over one KB; `key_id` is the API key that created it (None: the admin
    key, open mode or the CLI). `turns` is filled when one conversation is read, empty in a listing."""

    id: str
    kb: str
    key_id: str | None
    title: str
    turn_count: int
    created_at: datetime
    updated_at: datetime
    turns: list[ConversationTurn] = field(default_factory=list)

    def history(self) -> list[Turn]:
        """The turns as the answer pipeline reads a conversation: each question, then its answer."""
        return [
            message
            for turn in self.turns
            for message in (Turn("user", turn.question), Turn("assistant", turn.answer))
        ]
