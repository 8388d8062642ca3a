"""Entities and relations by asking a chat model about each chunk, for graphs better than heuristics.

Each chunk is one request (an answer then belongs to exactly one chunk, and caches per chunk); the reply
must be a JSON object that validates against `Extraction`, else the model is asked once more with the
error, and then the chunk is skipped with a warning (and counted: the batch's `counts` give the share
of chunks whose JSON failed). Answers are cached on disk by the chunk text's sha256 and what was asked
(model, prompt, token budget) as each one arrives, so re-ingesting, or resuming an interrupted ingest,
asks only for the chunks not answered yet.

The model's names become graph keys exactly as the heuristic extractor's do (`normalize_name`,
`entity_id`), so either extractor, or both over time, builds one graph. A name the chunk does not
contain is dropped (small models copy the prompt's example), and so is a relation whose ends are not
entities of the same chunk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing, contextmanager
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, Field, ValidationError

from rag.common.chat import ChatModel, ModelRequestError
from rag.extract.names import normalize_name
from rag.extract.prompts import EXTRACT_SYSTEM, extract_messages, extract_retry
from rag.models import (
    CO_OCCURS,
    LOCATION,
    ORGANIZATION,
    OTHER,
    PERSON,
    Chunk,
    Entity,
    ExtractionCounts,
    GraphBatch,
    Mention,
    Relation,
    entity_id,
)

log = logging.getLogger(__name__)

CACHE_FILE = "llm-extractions.sqlite3"

_NAME = Field(min_length=1, max_length=200)


class ExtractedEntity(BaseModel):
    name: str = _NAME
    type: str | None = None


class ExtractedRelation(BaseModel):
    source: str = _NAME
    target: str = _NAME
    type: str | None = None


class Extraction(BaseModel):
    """The reply a model must give for one chunk; extra keys are ignored, missing lists are not."""

    entities: list[ExtractedEntity]
    relations: list[ExtractedRelation] = Field(default_factory=list)


_EMPTY = Extraction(entities=[])

#: The words models use for the heuristic extractor's four types; anything else is "other".
_TYPE_WORDS = {
    PERSON: "person people human individual per",
    ORGANIZATION: "organization organisation org company corporation business institution agency "
    "university school bank government",
    LOCATION: "location place city country region state province continent gpe loc address",
}
_TYPES = {word: type_ for type_, words in _TYPE_WORDS.items() for word in words.split()}
_NON_WORD = re.compile(r"\W+")
_SPACES = re.compile(r"\s+")
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)
_MAX_RELATION_TYPE = 40
_SQL_BATCH = 500


def parse_reply(reply: str) -> Extraction:
    """The JSON object in a reply, validated. Reasoning blocks and prose or code fences around the
    object are tolerated; anything else raises ValueError (pydantic's ValidationError is one)."""
    text = _THINKING.sub("", reply)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the reply holds no JSON object")
    return Extraction.model_validate_json(text[start : end + 1])


def _reason(exc: ValueError) -> str:
    """What was wrong, without the reply itself: it may quote the document, and this is logged."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'reply'}: {error['msg']}" for error in exc.errors()[:3]
        )
    return str(exc)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ExtractionCache:
    """Validated answers by (chunk text hash, fingerprint of the question) in one SQLite file.

    SQLite locks the file, so an ingest and a server may share it; each write is one transaction, so a
    crash keeps whole answers only.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS extractions (text_hash TEXT NOT NULL, fingerprint TEXT NOT NULL,"
                " answer TEXT NOT NULL, PRIMARY KEY (text_hash, fingerprint))"
            )

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            yield db

    def get(self, fingerprint: str, hashes: Collection[str]) -> dict[str, Extraction]:
        found: dict[str, Extraction] = {}
        wanted = sorted(hashes)
        with self._db() as db:
            for start in range(0, len(wanted), _SQL_BATCH):
                part = wanted[start : start + _SQL_BATCH]
                rows = db.execute(
                    "SELECT text_hash, answer FROM extractions WHERE fingerprint = ? AND text_hash IN "
                    f"({', '.join('?' * len(part))})",
                    [fingerprint, *part],
                )
                for key, answer in rows:
                    try:
                        found[key] = Extraction.model_validate_json(answer)
                    except ValidationError:
                        continue  # written by an older schema: ask again
        return found

    def put(self, fingerprint: str, answers: Mapping[str, Extraction]) -> None:
        if not answers:
            return
        with self._db() as db:
            db.executemany(
                "INSERT OR REPLACE INTO extractions (text_hash, fingerprint, answer) VALUES (?, ?, ?)",
                [(key, fingerprint, answer.model_dump_json()) for key, answer in answers.items()],
            )


class _Outcome(NamedTuple):
    """What asking about one chunk gave: an answer (None: the server refused the request) and
    whether that answer is the empty one standing in for replies that were not valid JSON."""

    answer: Extraction | None
    failed_json: bool = False


class LLMExtractor:
    """The `Extractor` protocol over a chat model, one chunk per request.

    `concurrency` requests run at once (`RAG_EXTRACT_CONCURRENCY`): a model server batches them (vLLM,
    llama.cpp with slots), while the in-process model serves them one at a time anyway. Raises
    `ModelUnavailable` when the model cannot be reached, so the caller can stop instead of recording
    empty graphs.
    """

    def __init__(
        self, model: ChatModel, cache_dir: Path, *, max_tokens: int = 512, concurrency: int = 1
    ) -> None:
        self.model = model
        self.cache = ExtractionCache(cache_dir / CACHE_FILE)
        self.max_tokens = max_tokens
        self.concurrency = max(1, concurrency)

    @cached_property
    def fingerprint(self) -> str:
        """What was asked: another model, prompt or token budget may answer differently."""
        prompt = hashlib.sha256(EXTRACT_SYSTEM.encode()).hexdigest()[:16]
        return json.dumps([self.model.name, prompt, self.max_tokens])

    def extract(self, kb: str, chunks: list[Chunk]) -> GraphBatch:
        keys = [text_hash(chunk.text) for chunk in chunks]
        found = self.cache.get(self.fingerprint, set(keys))
        todo = {key: chunk for key, chunk in zip(keys, chunks, strict=True) if key not in found}
        counts = ExtractionCounts(asked=len(todo), cached=len(found))
        for key, outcome in self._outcomes(todo):
            if outcome.answer is None:
                counts.refused += 1
                continue
            found[key] = outcome.answer
            counts.failed_json += outcome.failed_json
        log.info(
            "event=llm_extract kb=%s chunks=%d cached=%d asked=%d failed_json=%d refused=%d model=%s",
            kb,
            len(chunks),
            counts.cached,
            counts.asked,
            counts.failed_json,
            counts.refused,
            self.model.name,
        )
        batch = _graph(kb, chunks, [found.get(key, _EMPTY) for key in keys])
        batch.counts = counts
        return batch

    def _outcomes(self, todo: Mapping[str, Chunk]) -> Iterator[tuple[str, _Outcome]]:
        """Each chunk's outcome as it arrives, `concurrency` requests in flight and at most twice that
        submitted: a huge batch holds a window of pending requests, not one future per chunk. When a
        request fails (model unreachable), the ones not started are cancelled and the running ones
        finish, so their answers are cached before the error reaches the caller."""
        pending = iter(todo.items())
        running: dict[Future[_Outcome], str] = {}
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="llm-extract") as pool:
            try:
                while True:
                    for key, chunk in islice(pending, 2 * self.concurrency - len(running)):
                        running[pool.submit(self._answer, key, chunk)] = key
                    if not running:
                        return
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield running.pop(future), future.result()
            finally:
                for future in running:
                    future.cancel()

    def _answer(self, key: str, chunk: Chunk) -> _Outcome:
        """Ask about one chunk and cache the answer at once, from the worker: an interrupted ingest
        then resumes with every answer that arrived, not only those of finished batches."""
        outcome = self._ask(chunk)
        if outcome.answer is not None:
            self.cache.put(self.fingerprint, {key: outcome.answer})
        return outcome

    def _ask(self, chunk: Chunk) -> _Outcome:
        """The model's valid answer; an empty one after two invalid replies (cached: at temperature 0 a
        third try would answer the same); no answer when the backend refused the request (not cached:
        a server setting, not the text, may be the cause)."""
        messages = extract_messages(chunk.text)
        reason = ""
        for attempt in (1, 2):
            reply = ""
            try:
                reply = self.model.complete(
                    messages, max_tokens=self.max_tokens, temperature=0.0, json_mode=True
                )
                return _Outcome(parse_reply(reply))
            except ModelRequestError as exc:
                log.warning(
                    "event=llm_extract_skipped chunk=%s model=%s attempts=%d reason=%r",
                    chunk.id,
                    self.model.name,
                    attempt,
                    str(exc),
                )
                return _Outcome(None)
            except ValueError as exc:
                reason = _reason(exc)
                messages = extract_retry(messages, reply, reason)
        log.warning(
            "event=llm_extract_skipped chunk=%s model=%s attempts=2 reason=%r",
            chunk.id,
            self.model.name,
            reason,
        )
        return _Outcome(_EMPTY, failed_json=True)


def _searchable(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _entity_type(value: str | None) -> str:
    return _TYPES.get((value or "").strip().lower(), OTHER)


def _relation_type(value: str | None) -> str:
    return _NON_WORD.sub("_", (value or "").casefold()).strip("_")[:_MAX_RELATION_TYPE] or CO_OCCURS


def _graph(kb: str, chunks: list[Chunk], answers: list[Extraction]) -> GraphBatch:
    """The batch the graph store records: every chunk, and what each chunk's answer grounds in it."""
    names: dict[str, Counter[str]] = defaultdict(Counter)
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    per_chunk: list[tuple[list[str], list[tuple[str, str, str]]]] = []
    for chunk, answer in zip(chunks, answers, strict=True):
        haystack = _searchable(chunk.text)
        keys: dict[str, None] = {}
        for entity in answer.entities:
            key = normalize_name(entity.name)
            if not key or _searchable(entity.name) not in haystack:
                continue
            keys[key] = None
            names[key][entity.name.strip()] += 1
            if (type_ := _entity_type(entity.type)) != OTHER:
                votes[key][type_] += 1
        relations: dict[tuple[str, str, str], None] = {}
        for relation in answer.relations:
            source, target = normalize_name(relation.source), normalize_name(relation.target)
            if source in keys and target in keys and source != target:
                relations[(source, target, _relation_type(relation.type))] = None
        per_chunk.append((list(keys), list(relations)))

    ids = {key: entity_id(kb, key) for key in names}
    batch = GraphBatch(kb=kb, chunks=list(chunks))
    batch.entities = [
        Entity(ids[key], kb, max(spellings, key=spellings.__getitem__), _majority(votes[key]))
        for key, spellings in names.items()
    ]
    for chunk, (keys, relations) in zip(chunks, per_chunk, strict=True):
        batch.mentions.extend(Mention(chunk.id, ids[key]) for key in keys)
        batch.relations.extend(
            Relation(kb, ids[source], ids[target], type_, chunk.id, chunk.document_id)
            for source, target, type_ in relations
        )
    return batch


def _majority(votes: Counter[str]) -> str:
    return votes.most_common(1)[0][0] if votes else OTHER
