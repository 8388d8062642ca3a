"""RAFT-style training examples from a knowledge base (Retrieval-Augmented Fine-Tuning: the model
learns to answer from the retrieved sources and to ignore the distractors among them).

Each example is one question in the very prompt `rag ask` sends: the answer rules, then numbered,
fenced sources, then the question. The sources are the gold chunk (the one the question was
written from, or for a user's own question the retrieved chunks holding its answer) among hard
distractors, the product's own retrievers' best other matches, so the model trains on the
mistakes retrieval really offers. A share of the examples (RAG_FINETUNE_NO_GOLD_SHARE) leaves the
gold out, and their answer says the sources do not tell: without them, fine-tuning teaches a
model to answer from whatever it is given.

The split is by document (all examples of a document fall in one split, `assign_splits`), so the
test split asks about documents the adapter never saw; near-duplicate questions are dropped across
the whole set, so no test question is a rephrased training one. `formats.py` writes the files.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rag.answer.abstain import sources_silent
from rag.answer.context import Budgets, build_context
from rag.answer.pipeline import AnswerPipeline
from rag.answer.prompts import answer_messages
from rag.evaluate.metrics import contains_answer
from rag.finetune.questions import Seed
from rag.models import Hit
from rag.retrieve.fuse import FusedHit
from rag.retrieve.keyword import content_terms
from rag.stores.sql import SqlStore

SPLITS = ("train", "dev", "test")
#: fused hits read per question to find its gold chunks and distractors
DEPTH = 20
#: gold chunks of a user's question at most: a multi-hop answer may need two passages
MAX_GOLD = 2
#: questions sharing this share of their content words (Jaccard) are near-duplicates
NEAR_DUPLICATE = 0.8


@dataclass(frozen=True, slots=True)
class DataOptions:
    """How examples are made: sources per prompt, the no-gold share, split shares and the seed."""

    sources: int = 5
    no_gold_share: float = 0.2
    dev_share: float = 0.1
    test_share: float = 0.1
    seed: int = 0


@dataclass(slots=True)
class Example:
    """One training example with what its evaluation needs (gold numbers, answers)."""

    id: str
    split: str
    question: str
    answers: list[str]
    answerable: bool
    kb: str
    gold_chunks: list[str]
    gold_documents: list[str]
    gold_texts: list[str]
    sources: list[dict[str, Any]]
    prompt: list[dict[str, str]]
    completion: list[dict[str, str]]
    origin: str = "generated"

    @property
    def gold_numbers(self) -> list[int]:
        return [source["n"] for source in self.sources if source["gold"]]


@dataclass(slots=True)
class Built:
    examples: list[Example] = field(default_factory=list)
    #: reason → seeds that gave no example
    skipped: Counter[str] = field(default_factory=Counter)


def assign_splits(examples: list[Example], options: DataOptions) -> None:
    """Put each example in its gold document's split. Documents are ordered by a stable hash of
    their ids (and the seed); the first test share of them go to test, the next dev share to dev,
    the rest to train: the shares are met as closely as whole documents allow, and a set of three
    documents or more has a document in every split whose share is above zero."""
    documents = sorted(
        {example.gold_documents[0] for example in examples},
        key=lambda document: hashlib.sha256(f"{options.seed}:{document}".encode()).hexdigest(),
    )
    count = len(documents)

    def share(fraction: float) -> int:
        return max(1, round(fraction * count)) if fraction > 0 and count >= 3 else round(fraction * count)

    tests, devs = share(options.test_share), share(options.dev_share)
    split = {
        d: "test" if i < tests else "dev" if i < tests + devs else "train" for i, d in enumerate(documents)
    }
    for example in examples:
        example.split = split[example.gold_documents[0]]


def build_examples(
    pipeline: AnswerPipeline,
    store: SqlStore,
    kb: str,
    seeds: Iterable[Seed],
    options: DataOptions,
    progress: Callable[[int], None] | None = None,
) -> Built:
    """One example per seed whose gold chunk can be found, near-duplicates dropped."""
    built = Built()
    for number, seed in enumerate(seeds, start=1):
        example = _example(pipeline, store, kb, seed, options, built.skipped)
        if example is not None:
            built.examples.append(example)
        if progress:
            progress(number)
    kept = drop_near_duplicates(built.examples)
    if len(kept) < len(built.examples):
        built.skipped["near-duplicate question"] += len(built.examples) - len(kept)
    built.examples = kept
    assign_splits(built.examples, options)
    return built


def _example(
    pipeline: AnswerPipeline,
    store: SqlStore,
    kb: str,
    seed: Seed,
    options: DataOptions,
    skipped: Counter[str],
) -> Example | None:
    found = pipeline.retrieve(seed.question, kb, top_k=DEPTH)
    hits = list(found.hits)
    if seed.chunk_id is not None:
        gold = [hit for hit in hits if hit.chunk_id == seed.chunk_id] or _fetched(store, kb, seed)
    else:  # a user's own question: the retrieved chunks that hold its answer
        gold = [hit for hit in hits if contains_answer(hit.hit.text, seed.answers)][:MAX_GOLD]
    if not gold:
        skipped["no chunk holds the answer"] += 1
        return None
    gold_ids = {hit.chunk_id for hit in gold}
    # a chunk that also holds the answer is no distractor: it would teach "not in the sources"
    # for an answer that is there
    distractors = [
        hit
        for hit in hits
        if hit.chunk_id not in gold_ids and not contains_answer(hit.hit.text, seed.answers)
    ]
    key = hashlib.sha256(f"{options.seed}:{kb}:{seed.question}".encode()).hexdigest()
    rng = random.Random(key)
    answerable = rng.random() >= options.no_gold_share
    if answerable:
        chosen = distractors[: max(0, options.sources - len(gold))]
        for item in gold:  # the gold anywhere among the sources: position is no clue
            chosen.insert(rng.randint(0, len(chosen)), item)
    else:
        chosen = distractors[: options.sources]
    if not chosen:
        skipped["no distractor found"] += 1
        return None
    budgets = Budgets(pipeline.budgets.chunks, 0, 0)
    sources, citations = build_context(chosen, [], [], budgets, pipeline.count_tokens)
    numbered = [
        {"n": c.n, "chunk_id": c.chunk_id, "document_id": c.document_id, "gold": c.chunk_id in gold_ids}
        for c in citations
    ]
    gold_numbers = [source["n"] for source in numbered if source["gold"]]
    if answerable and not gold_numbers:
        skipped["gold chunk over the prompt budget"] += 1
        return None
    if answerable:
        marks = "".join(f"[{n}]" for n in gold_numbers)
        reply = f"{seed.answers[0].rstrip('.。')} {marks}."
    else:
        reply = sources_silent(seed.question)
    return Example(
        id=key[:16],
        split="",  # set for the whole set at once (`assign_splits`)
        question=seed.question,
        answers=seed.answers,
        answerable=answerable,
        kb=kb,
        gold_chunks=[hit.chunk_id for hit in gold],
        gold_documents=list(dict.fromkeys(hit.hit.document_id for hit in gold)),
        gold_texts=[hit.hit.text for hit in gold],
        sources=numbered,
        prompt=answer_messages(seed.question, sources),
        completion=[{"role": "assistant", "content": reply}],
        origin=seed.origin,
    )


def _fetched(store: SqlStore, kb: str, seed: Seed) -> list[FusedHit]:
    """The seed's own chunk when retrieval did not find it: it is still the gold."""
    assert seed.chunk_id is not None
    row = store.chunks_by_ids([seed.chunk_id]).get(seed.chunk_id)
    if row is None:
        return []
    chunk, source = row
    hit = Hit(chunk.id, chunk.document_id, kb, chunk.text, source, 0.0, "gold", 0, chunk.metadata)
    return [FusedHit(hit, 0.0)]


def drop_near_duplicates(examples: list[Example]) -> list[Example]:
    """The examples without those whose question is a near-duplicate of an earlier one (Jaccard of
    content words ≥ NEAR_DUPLICATE). Candidates are found through each question's rarest words:
    a set B that similar to A lacks at most (1 - J)/J of A's n words, so it holds one of A's
    rarest ⌊n·(1 - J)/J⌋ + 1, and only those pairs are compared."""
    terms = [frozenset(content_terms(example.question)) for example in examples]
    frequency = Counter(term for words in terms for term in words)
    index: dict[str, list[int]] = {}
    kept: list[int] = []
    for i, words in enumerate(terms):
        rare = sorted(words, key=lambda term: (frequency[term], term))
        probe = rare[: int(len(rare) * (1 - NEAR_DUPLICATE) / NEAR_DUPLICATE) + 1]
        candidates = {j for term in probe for j in index.get(term, [])}
        if any(_jaccard(words, terms[j]) >= NEAR_DUPLICATE for j in candidates):
            continue
        kept.append(i)
        for term in words:
            index.setdefault(term, []).append(i)
    return [examples[i] for i in kept]


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
