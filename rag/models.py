"""Shared dataclasses that cross module boundaries.

Ids are deterministic (uuid5) so that every write is an idempotent upsert:
re-running an ingest after a crash converges instead of duplicating.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

#: Namespace for every uuid5 the project derives; never change it, or ids of stored data drift.
ID_NAMESPACE = uuid.UUID("6f1c2a52-8a51-4a57-9c55-3f1f0d6a7c21")


def stable_id(*parts: object) -> str:
    """A uuid5 over the parts, joined unambiguously; the same parts always give the same id."""
    return str(uuid.uuid5(ID_NAMESPACE, "\x1f".join(str(part) for part in parts)))


def document_id(kb: str, source: str) -> str:
    return stable_id("document", kb, source)


def chunk_id(document: str, ordinal: int) -> str:
    return stable_id("chunk", document, ordinal)


def entity_id(kb: str, normalized_name: str) -> str:
    return stable_id("entity", kb, normalized_name)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DocumentStatus(StrEnum):
    """Ledger states; a document only moves forward, or to failed. `stored` means its chunks are
    in the ledger; `done` that every chunk also went to the vector and graph stores (one pass
    writes both, so there is no state in between)."""

    PENDING = "pending"
    STORED = "stored"
    DONE = "done"
    FAILED = "failed"


@dataclass(slots=True)
class Document:
    id: str
    kb: str
    source: str
    content_hash: str
    mime: str
    size: int = 0
    status: DocumentStatus = DocumentStatus.PENDING
    error: str | None = None
    stage: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Chunk:
    id: str
    document_id: str
    kb: str
    ordinal: int
    text: str
    token_count: int
    metadata: dict[str, Any] = field(default_factory=dict)


#: The graph's vocabulary, shared by every extractor (heuristic, LLM), the graph stores and the
#: graph retriever: entity types, and the relation type of two entities named in one sentence.
PERSON, ORGANIZATION, LOCATION, OTHER = "person", "organization", "location", "other"
CO_OCCURS = "related_to"


@dataclass(slots=True, frozen=True)
class Entity:
    id: str
    kb: str
    name: str
    type: str


@dataclass(slots=True, frozen=True)
class Mention:
    """A chunk names an entity."""

    chunk_id: str
    entity_id: str


@dataclass(slots=True, frozen=True)
class Relation:
    """A typed edge between two entities, justified by one chunk."""

    kb: str
    source_id: str
    target_id: str
    type: str
    chunk_id: str
    document_id: str


@dataclass(slots=True, frozen=True)
class Fact:
    """A stored relation read back for a prompt ("Alice Moreau —works_at→ Vantor Labs"), with the chunk
    that justifies it and how many hops it lies from the entities the question named (1 or 2)."""

    source_id: str
    source: str
    relation: str
    target_id: str
    target: str
    chunk_id: str
    hops: int


@dataclass(slots=True)
class ExtractionCounts:
    """How a model-backed extractor answered a batch's chunks, for the ingest summary: a graph built
    from replies that were mostly invalid JSON looks like a sparse graph unless someone says so.

    `asked` counts distinct chunk texts sent to the model, `cached` those answered from the cache,
    `failed_json` those whose reply was still not valid JSON after the retry, `refused` those the
    server refused (asked again next run)."""

    asked: int = 0
    cached: int = 0
    failed_json: int = 0
    refused: int = 0

    def add(self, other: ExtractionCounts) -> None:
        self.asked += other.asked
        self.cached += other.cached
        self.failed_json += other.failed_json
        self.refused += other.refused

    @property
    def failed_share(self) -> float:
        """Failed-JSON chunks as a share of those asked this run (0.0 when none was asked)."""
        return round(self.failed_json / self.asked, 4) if self.asked else 0.0


@dataclass(slots=True)
class GraphBatch:
    """Everything the graph store needs to record for a batch of chunks; `counts` says how an LLM
    extractor obtained it (not what it holds, so two batches of the same graph compare equal)."""

    kb: str
    chunks: list[Chunk] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    counts: ExtractionCounts = field(default_factory=ExtractionCounts, compare=False)


@dataclass(slots=True)
class VectorPoint:
    id: str
    vector: list[float]
    payload: dict[str, Any]


@dataclass(slots=True)
class VectorHit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(slots=True)
class Hit:
    """One chunk as one retriever found it, with what to cite.

    `score` is the retriever's own (cosine, BM25, …: higher is better, not comparable across
    retrievers); `rank` is 1-based in that retriever's list, which is what fusion compares.
    """

    chunk_id: str
    document_id: str
    kb: str
    text: str
    source: str
    score: float
    retriever: str  # "vector" | "keyword" | "sql" | "graph"
    rank: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TableResult:
    """The rows a checked SQL query returned from a knowledge base's tables, with what to cite:
    the query as it ran, and the tables and documents it read."""

    sql: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    tables: list[str]  # qualified names, as the catalogue lists them
    document_ids: list[str]
    sources: list[str]


@dataclass(slots=True)
class Citation:
    """One numbered context block of an answer's prompt: where it came from and who found it.

    `chunk_id` is None for a SQL result (cite `sql`) and for the block of graph facts (cite the
    chunks in `chunk_ids`, which justify the facts). `cited` says whether the answer refers to `[n]`,
    and `how` how that came about: "written" (the model wrote `[n]`), "attributed" (the model wrote
    no usable marker and sentence attribution found this source supporting `sentences`, the
    0-based sentences of the answer), None when it is not cited.
    """

    n: int
    kind: str  # "chunk" | "table" | "facts"
    source: str
    document_id: str | None
    chunk_id: str | None
    retrievers: list[str]
    text: str
    score: float | None = None
    sql: str | None = None
    chunk_ids: list[str] = field(default_factory=list)
    cited: bool = False
    how: str | None = None
    sentences: list[int] = field(default_factory=list)


@dataclass(slots=True)
class SourceFailure:
    """A retriever that did not contribute to an answer, and why (one line, no secrets)."""

    source: str
    reason: str


@dataclass(slots=True, frozen=True)
class Turn:
    """One message of a conversation before the current question: what the user asked or what
    the assistant answered (the answer's text, without its "Sources" list)."""

    role: str  # "user" | "assistant"
    content: str


class Abstention(StrEnum):
    """Why an answer says the knowledge base does not tell: retrieval found nothing convincing
    (answered without a model call), or the model said so itself."""

    NO_EVIDENCE = "no_evidence"
    MODEL = "model"


@dataclass(slots=True)
class Answer:
    """A generated answer with the context blocks it was given (`cited` marks those it refers to),
    the retrievers that failed, how long each step took in milliseconds, and the prompt's and the
    answer's size in tokens (the prompt measured with the embedding model's tokenizer, the answer
    as the pieces the model streamed: close to, not exactly, the model's own count).

    `retrieval_question` is what retrieval searched for: the question itself, or its standalone
    rewrite when it was a follow-up. `unsupported` lists the answer's sentences that no source
    supports (set when citations had to be attributed). `abstained` says whether, and why, the
    answer is "the knowledge base does not say"."""

    question: str
    kb: str
    answer: str
    citations: list[Citation]
    sources_failed: list[SourceFailure]
    timings_ms: dict[str, float]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retrieval_question: str = ""
    abstained: Abstention | None = None
    unsupported: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Column:
    name: str
    type: str  # one of "integer", "decimal", "date", "datetime", "boolean", "text"


@dataclass(slots=True)
class Table:
    """A table found in a document (csv, an xlsx sheet, a JSON array of flat objects)."""

    name: str
    columns: list[Column]
    rows: list[list[Any]]
    sheet: str | None = None


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits, other runs as one `-`, none at the ends (may be empty):
    safe as a folder name, a Qdrant collection name or part of a KB name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(slots=True, frozen=True)
class EmbeddingModelInfo:
    """Name, engine and dimension of a model: enough to pick a vector collection without loading it."""

    name: str
    path: Path
    dimension: int
    engine: str = "sentence-transformers"
    #: which weights a folder holds when its name does not say (a fine-tune's digest; "" otherwise)
    revision: str = ""
    #: what runs a sentence-transformers folder: "torch", or "onnx" (exported and int8-quantized,
    #: `rag/embed/onnx.py`), whose slightly different vectors get a collection of their own
    backend: str = "torch"
    #: where the onnx backend keeps the models it exported (the data folder's `models/`)
    exports: Path | None = None

    @property
    def slug(self) -> str:
        """The model's own name without its organisation or folder, e.g. `bge-m3` for `BAAI/bge-m3`,
        then its revision and backend: the vector collection is named by it, and a model trained
        again into the same folder (or into one named like another model, or run quantized) must
        not share the earlier one's vectors."""
        name = slug(Path(self.name).name)
        parts = [name, self.revision, "onnx-int8" if self.backend == "onnx" else ""]
        return "-".join(part for part in parts if part)
