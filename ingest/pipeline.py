"""Files in, all three stores written: walk ─► classify ─► load/clean/chunk ─► ledger ─► embed ─► graph.

Two passes keep memory bounded and make crashes resumable:
1. per file: hash, compare with the ledger, and (for new or changed files) load, clean and
   chunk it straight into the relational store in one transaction (status `stored`);
2. over the stored chunks, a page at a time across documents: embed in batches, upsert the
   vectors, extract entities and relations into the graph; a document whose chunks have all
   been through both is `done`.
A re-run skips what is done, resumes what a crash interrupted (a `stored` document goes through
the second pass again from its first chunk; every write there is an upsert by id), and replaces
what changed. The ledger records which vector collection (embedding model) holds each document's
vectors, so a run under another `RAG_EMBED_MODEL` embeds every document of the KB that the
configured collection lacks, walked this time or not, without extracting its graph again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from ingest.chunk import Chunker
from ingest.clean import clean_sections
from ingest.graph_writes import GraphWrites
from ingest.loaders import SUPPORTED_EXTENSIONS, load
from ingest.loaders.base import DEFAULT_LIMITS, Limits, LoaderError, Section
from ingest.walk import walk
from rag.common.filters import filterable
from rag.common.reasons import one_line
from rag.embed import Embedder
from rag.extract.base import Extractor
from rag.models import (
    Chunk,
    Document,
    DocumentStatus,
    ExtractionCounts,
    VectorPoint,
    chunk_id,
    document_id,
)
from rag.retrieve.calibrate import needs_refit, refit
from rag.stores.errors import StoreUnavailable
from rag.stores.factory import Stores
from rag.stores.sql import LedgerEntry

log = logging.getLogger(__name__)

_HASH_BLOCK = 1 << 20


class Progress(Protocol):
    """What the pipeline reports while it works (the CLI draws Rich bars from it)."""

    def files(self, total: int) -> None: ...
    def file_done(self, source: str) -> None: ...
    def chunks(self, total: int) -> None: ...
    def chunks_done(self, count: int) -> None: ...


class RunStopped(Exception):
    """Raised by a `checkpoint` to end the run where it is, nothing marked failed."""


def _no_checkpoint() -> None:
    """Outside a job nothing can take the run away."""


class _Silent:
    def files(self, total: int) -> None: ...
    def file_done(self, source: str) -> None: ...
    def chunks(self, total: int) -> None: ...
    def chunks_done(self, count: int) -> None: ...


@dataclass
class Failure:
    source: str
    stage: str
    error: str


#: a run that stores this many chunks refreshes the relational store's planner statistics; smaller
#: ones are left to autovacuum, which catches up within a minute
ANALYZE_AFTER_CHUNKS = 1000


@dataclass
class IngestSummary:
    """What one run did; `failures` names each failed file with its reason."""

    kb: str
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    resumed: int = 0
    #: documents whose chunks were embedded again for the configured model (their vectors were
    #: in another model's collection, or nowhere)
    reembedded: int = 0
    deleted: int = 0
    failed: int = 0
    chunks: int = 0
    vectors: int = 0
    entities: int = 0
    relations: int = 0
    tables: int = 0
    seconds: float = 0.0
    #: seconds per stage: prepare (hash, load, chunk, ledger), load_model, embed, vectors, graph,
    #: prune, index
    timings: dict[str, float] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    #: the fusion weights learned for the KB after this run changed it (`rag.retrieve.calibrate`)
    fusion_weights: dict[str, float] = field(default_factory=dict)
    #: how an LLM extractor answered this run's chunks (all zero with the heuristics)
    extraction: ExtractionCounts = field(default_factory=ExtractionCounts)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.timings[stage] = round(self.timings.get(stage, 0.0) + elapsed, 4)

    def as_dict(self) -> dict[str, Any]:
        shown = asdict(self)
        shown["extraction"]["failed_share"] = self.extraction.failed_share
        return shown


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class _Work:
    """A `stored` document whose chunks still need vectors and graph, with how many chunks it has."""

    entry_id: str
    kb: str
    chunk_count: int
    done: int = 0
    #: False for a document whose graph is already there: only its vectors are missing
    graph: bool = True


class IngestPipeline:
    """Ingest files into one knowledge base across the relational, vector and graph stores."""

    def __init__(
        self,
        stores: Stores,
        embedder: Embedder,
        extractor: Extractor | None,
        chunker: Chunker,
        max_file_bytes: int,
        progress: Progress | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.stores = stores
        self.embedder = embedder
        self.extractor = extractor
        self.chunker = chunker
        self.max_file_bytes = max_file_bytes
        self.limits = limits
        self.progress = progress or _Silent()
        #: called before each write to a store (a document's chunks, an old version's deletion, a
        #: failure, each page's vectors, graph and ledger progress); it raises to stop the run (a
        #: job asked to abort, or given to another worker)
        self.checkpoint: Callable[[], None] = _no_checkpoint

    def run(
        self,
        paths: Sequence[Path],
        kb: str,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        learn: bool = True,
    ) -> IngestSummary:
        """Ingest `paths` into `kb`. With `learn`, the KB's fusion weights are learned again at the
        end when the run changed the KB enough (`learn`); a service passes False and learns them in
        the background instead, so an upload's reply does not wait seconds for pseudo-queries."""
        started = time.perf_counter()
        summary = IngestSummary(kb=kb)
        self.stores.sql.create_kb(kb)
        refused: list[tuple[str, str]] = []
        files = list(walk(paths, SUPPORTED_EXTENSIONS, include, exclude, refused))
        for source, reason in refused:  # a name no store can hold is reported, not recorded
            summary.failed += 1
            summary.failures.append(Failure(source, "read", reason))
        known = self.stores.sql.ledger(kb, [str(f) for f in files])
        self.progress.files(len(files))
        work: list[_Work] = []
        for path in files:
            self.stores.require_space()
            with summary.timed("prepare"):
                item = self._prepare(path, kb, known.get(str(path)), summary)
            if item is not None:
                work.append(item)
            self.progress.file_done(str(path))
        if prune:
            with summary.timed("prune"):
                summary.deleted = self._prune(paths, kb, {str(f) for f in files})
        reembed = self._missing_vectors(kb)
        summary.reembedded = len(reembed)
        self._embed_and_graph(work + reembed, summary)
        if summary.vectors >= self.stores.settings.vector_index_threshold > 0:
            with summary.timed("index"):
                self.stores.vector.optimize()
        if summary.chunks >= ANALYZE_AFTER_CHUNKS:
            with summary.timed("index"):
                self.stores.sql.analyze()
        if learn:
            self.learn(kb, summary)
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def run_file(self, path: Path, kb: str, source: str) -> IngestSummary:
        """Ingest the one file at `path` as the document named `source` in the ledger: an upload
        that a worker wrote to a folder of its own, whose document must have the same id on every
        machine. The KB's fusion weights are left to the caller (`learn`)."""
        started = time.perf_counter()
        summary = IngestSummary(kb=kb)
        self.stores.sql.create_kb(kb)
        self.stores.require_space()
        with summary.timed("prepare"):
            item = self._prepare(path, kb, self.stores.sql.ledger(kb, [source]).get(source), summary, source)
        self._embed_and_graph([item] if item is not None else [], summary)
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def _missing_vectors(self, kb: str) -> list[_Work]:
        """The KB's `done` documents whose vectors the configured collection lacks (ingested under
        another embedding model, or the collection was emptied), as work for their vectors alone.
        Their stale points in the collection, if any, go first: chunk ids are stable, so a point
        left from an older version of the document would otherwise stand for a new chunk."""
        collection = self.stores.collection
        emptied = self.stores.vector.count(kb) == 0
        if not emptied:  # documents from before the ledger recorded collections hold their vectors here
            self.checkpoint()
            self.stores.sql.claim_vectors(kb, collection)
        missing = self.stores.sql.missing_vectors(kb, collection, everything=emptied)
        if not missing:
            return []
        log.info("event=reembed kb=%s documents=%d model=%s", kb, len(missing), self.stores.embedding.name)
        self.checkpoint()
        self.stores.vector.delete_documents(kb, [entry.id for entry in missing])
        return [_Work(entry.id, kb, entry.chunk_count, graph=False) for entry in missing]

    def learn(self, kb: str, summary: IngestSummary) -> None:
        """Learn the KB's fusion weights again if the run `summary` describes changed it enough."""
        if self._kb_changed(kb, summary.reembedded > 0):
            with summary.timed("fusion"):
                summary.fusion_weights = refit(self.stores, self.embedder, kb)

    def _kb_changed(self, kb: str, reembedded: bool = False) -> bool:
        """Whether the KB's fusion weights should be learned again: the run changed what it holds
        by a tenth or more since they were learned, or they never were (`calibrate.needs_refit`),
        or its chunks were embedded again by another model: the weights and the answer-absent
        levels were learned from the old model's dense scores, which another model scales
        differently (abstention would compare its scores with the old model's levels)."""
        return self.stores.settings.fusion_learn and (reembedded or needs_refit(self.stores.sql, kb))

    # ------------------------------------------------------------- first pass
    def _prepare(
        self,
        path: Path,
        kb: str,
        entry: LedgerEntry | None,
        summary: IngestSummary,
        source: str | None = None,
    ) -> _Work | None:
        """Classify one file and, when it is new or changed, store its chunks in the ledger as the
        document `source` (the file's own path unless named)."""
        source = source or str(path)
        document = Document(
            id=document_id(kb, source),
            kb=kb,
            source=source,
            content_hash="",
            mime="application/octet-stream",
            metadata={"file_name": path.name},
        )
        try:
            digest = file_hash(path)
            document.size = path.stat().st_size
        except OSError as exc:  # unreadable (permissions, vanished mid-walk): in the ledger as failed
            return self._fail(document, "read", exc, summary)
        document.content_hash = digest
        if entry is not None and entry.content_hash == digest:
            if entry.status == DocumentStatus.DONE:
                summary.unchanged += 1
                return None
            if entry.status == DocumentStatus.STORED:  # all its chunks are in the ledger
                summary.resumed += 1
                return _Work(entry.id, kb, entry.chunk_count)
        changed = entry is not None and entry.content_hash != digest
        if entry is not None:
            # the old version leaves the vector and graph stores before the ledger forgets it
            self.checkpoint()
            self.stores.vector.delete_documents(kb, [entry.id])
            self.stores.graph.delete_documents(kb, [entry.id])
        stage = "load"
        try:
            loaded = load(path, max_bytes=self.max_file_bytes, limits=self.limits)
            document.mime = loaded.mime
            document.metadata.update(loaded.metadata)
            stage = "store"
            self.checkpoint()
            count = self.stores.sql.store_document(
                document, self._chunks(document, loaded.sections), loaded.tables
            )
        except (StoreUnavailable, RunStopped):  # the server went away, or the job: the run stops
            raise
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise StoreUnavailable(f"{self.stores.sql.description} failed: {one_line(exc)}") from None
        except (LoaderError, UnicodeError, ValueError, OSError, sa.exc.SQLAlchemyError) as exc:
            return self._fail(document, stage, exc, summary)
        except Exception as exc:  # a parser library's own bug must fail one file, not the run
            log.warning("event=load_crash source=%s error=%r", source, exc)
            return self._fail(document, stage, exc, summary)
        if changed:
            summary.changed += 1
        else:
            summary.new += 1
        summary.chunks += count
        summary.tables += len(loaded.tables)
        if count == 0:
            return None
        return _Work(document.id, kb, count)

    def _fail(self, document: Document, stage: str, exc: BaseException, summary: IngestSummary) -> None:
        reason = one_line(exc)
        self.checkpoint()
        self.stores.sql.record_failure(document, stage, reason)
        summary.failed += 1
        summary.failures.append(Failure(document.source, stage, reason))
        log.info("event=document_failed source=%s stage=%s error=%s", document.source, stage, reason)

    def _chunks(self, document: Document, sections: Iterator[Section]) -> Iterator[Chunk]:
        for ordinal, piece in enumerate(self.chunker.chunk_sections(clean_sections(sections))):
            yield Chunk(
                id=chunk_id(document.id, ordinal),
                document_id=document.id,
                kb=document.kb,
                ordinal=ordinal,
                text=piece.text,
                token_count=piece.token_count,
                metadata=piece.metadata,
            )

    def _prune(self, paths: Sequence[Path], kb: str, seen: set[str]) -> int:
        """Delete documents under the walked folders whose files are gone."""
        roots = [str(p.expanduser().resolve()) for p in paths]
        gone = [
            entry
            for entry in self.stores.sql.documents_in_kb(kb)
            if entry.source not in seen
            and any(entry.source == r or entry.source.startswith(r.rstrip("/") + "/") for r in roots)
            and not Path(entry.source).exists()
        ]
        return self.stores.delete_documents(gone)

    # ------------------------------------------------------------ second pass
    def _embed_and_graph(self, work: list[_Work], summary: IngestSummary) -> None:
        """Vectors and graph for the stored chunks, a page at a time across documents."""
        if not work:
            return
        by_id = {item.entry_id: item for item in work}
        self.progress.chunks(sum(item.chunk_count for item in work))
        with summary.timed("load_model"):  # once per process; a run with nothing stored skips it
            self.embedder.load()
        entities: set[str] = set()
        batch_size = max(self.embedder.batch_size * 4, 128)
        kb = work[0].kb
        graph = None
        if self.extractor is not None:
            graph = GraphWrites(kb, self.stores.graph.count(kb)["chunks"], batch_size)
        #: the documents whose chunks were embedded since the graph was last written
        window: dict[str, _Work] = {}
        for page in self.stores.sql.iter_chunks(list(by_id), batch_size):
            self.stores.require_space()
            with summary.timed("embed"):
                # repeated text (boilerplate, identical rows) is embedded once per page
                unique = list(dict.fromkeys(c.text for c in page))
                vectors = dict(zip(unique, self.embedder.embed_passages(unique).tolist(), strict=True))
            self.checkpoint()
            with summary.timed("vectors"):
                self.stores.vector.upsert(
                    [VectorPoint(id=c.id, vector=vectors[c.text], payload=filterable(c)) for c in page]
                )
            summary.vectors += len(page)
            to_extract = [chunk for chunk in page if by_id[chunk.document_id].graph]
            if self.extractor is not None and graph is not None and to_extract:
                with summary.timed("graph"):
                    extracted = self.extractor.extract(kb, to_extract)
                graph.add(extracted)
                entities.update(e.id for e in extracted.entities)
                summary.relations += len(extracted.relations)
                summary.extraction.add(extracted.counts)
            for chunk in page:
                item = window.setdefault(chunk.document_id, by_id[chunk.document_id])
                item.done += 1
            if graph is None or graph.due:
                self._write_graph(graph, window, summary)
            self.progress.chunks_done(len(page))
        self._write_graph(graph, window, summary)
        summary.entities = len(entities)
        counts = summary.extraction
        if counts.asked or counts.cached:
            log.info(
                "event=ingest_extracted kb=%s asked=%d cached=%d failed_json=%d failed_share=%.4f refused=%d",
                summary.kb,
                counts.asked,
                counts.cached,
                counts.failed_json,
                counts.failed_share,
                counts.refused,
            )

    def _write_graph(
        self, graph: GraphWrites | None, window: dict[str, _Work], summary: IngestSummary
    ) -> None:
        """Write the gathered graph, then record the progress of the documents embedded since, and
        which of them are now complete: a document is `done` only once its graph is written too."""
        if graph is not None and graph.pending.chunks:
            self.checkpoint()  # extraction by a model server may have taken minutes
            with summary.timed("graph"):
                self.stores.graph.upsert(graph.take())
        if not window:
            return
        finished = [key for key, item in window.items() if item.done == item.chunk_count]
        under_way = {key: item.done for key, item in window.items() if item.done < item.chunk_count}
        self.checkpoint()
        self.stores.sql.record_indexed(under_way)  # a job's progress, for `rag jobs`
        if finished:
            self.stores.sql.set_status(finished, DocumentStatus.DONE, vectors_in=self.stores.collection)
        window.clear()
