"""Retrieval latency at 10k and 100k chunks: each retriever alone, fused, and question → prompt ready.

    python benchmarks/retrieve.py --sizes 10000,100000 --backends embedded,postgres --questions 100

Backends: `embedded` is the default store set (SQLite + qdrant-edge + LadybugDB in a temporary data
folder); `postgres` swaps the relational store for a throw-away PostgreSQL server (started from the
system's binaries by `tests.postgres`, as the test suite does) and keeps the embedded vector and graph
stores. For each size and backend it times, per question and with `time.perf_counter`:
- each retriever alone (vector, keyword, graph), asked for as many hits as fusion asks it for;
  the vector retriever embeds the question, so the query embedding is part of its latency;
- fused retrieval, `AnswerPipeline.retrieve` (the three retrievers side by side, then RRF);
- prompt ready: fused retrieval, `build_context` and `answer_messages`, as `rag ask` does before
  it calls the model (no model runs here).
Each kind runs once over all questions, after a warm-up (embedding model, jieba, one pass of a few
questions). One table per size prints p50/p99 (`rag.common.stats.percentile`), mean and max in ms
beside the targets (fused p50 ≤ 50 ms and p99 ≤ 200 ms at 100k chunks; printed, never asserted),
each retriever's p50 inside fused retrieval (where it shares the CPU with the other two), how many
questions found nothing, and how many retrievers failed or missed their deadline inside fused
retrieval. The embedding model runs on torch's default threads, as in production; on a small
machine shared with other work, compare a run under `OMP_NUM_THREADS=1`.

Why the corpus is synthetic: the packaged embedding model embeds ~20 chunks/s on this machine, so
100k real embeddings would take hours. The chunks are English prose generated from word lists (common
words drawn with Zipf weights, plus a long tail of made-up rare terms, so that query terms range from
frequent to rare as in real text) mixed with sentences naming people, organisations and places
("Alice Moreau works at Vantor Labs."), so the graph has entities and typed relations to link.
Only a few hundred chunk texts are embedded for real; every other vector is a normalised random
mixture of two of those plus noise. Search latency depends on the number of points, their dimension
and the index, not on the vectors being a chunk's true embedding, while the mixtures keep the points
clustered like real embeddings rather than uniform noise. The questions are embedded for real, as in
production.

The stores are written through their public APIs in large batches, as `ingest.pipeline` does but
without its loaders and embedding: `SqlStore.store_document` per document (then status `done`),
`VectorStore.upsert`, `HeuristicExtractor` + `GraphStore.upsert`, `SqlStore.analyze`, and
`VectorStore.optimize` once the vector count reaches `vector_index_threshold`, as after a real
ingest. The vector and graph stores of a size are built once and shared by both backends, which
differ only in the relational store; the build table shows each stage's seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# This folder holds ingest.py, which would shadow the `ingest` package; the repository root holds `tests`.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
from rich.console import Console
from rich.table import Table

from rag.answer.context import build_context
from rag.answer.pipeline import AnswerPipeline, open_pipeline
from rag.answer.prompts import answer_messages
from rag.common.stats import percentile
from rag.config import Settings
from rag.embed import Embedder, approximate_lengths, configured_model, open_embedder
from rag.extract.heuristic import HeuristicExtractor
from rag.models import Chunk, Document, DocumentStatus, VectorPoint, chunk_id, document_id
from rag.stores.factory import Stores, open_stores
from tests.postgres import create_database, drop_database, running_postgres

KB = "bench"
RETRIEVERS = ["vector", "keyword", "graph"]
CHUNK_CHARS = 1000  # ~200 tokens, the default chunk size
CHUNKS_PER_DOCUMENT = 20
#: chunk texts embedded for real; every other vector mixes two of them
BASE_VECTORS = 256
#: how far a derived vector strays from its mixture (per dimension, before normalising)
NOISE = 0.02
#: chunks per write batch (vectors, graph extraction and upsert)
PAGE = 2048
WARM_UP_QUESTIONS = 5
TARGET_SIZE = 100_000
TARGET_P50_MS, TARGET_P99_MS = 50.0, 200.0

# --- the synthetic corpus ------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


GIVEN = _words(
    """Alice Anna Brian Carol Claire Daniel David Diana Emily Emma Eric Frank Grace Hannah Helen Henry
    Jack James Jane Jason Julia Karen Kate Kevin Laura Linda Lisa Maria Mark Mary Michael Nancy Olivia
    Patrick Paul Peter Rachel Rebecca Robert Ruth Samuel Sarah Scott Sophia Steven Susan Thomas Timothy
    William"""
)
FAMILY = _words(
    """Moreau Okafor Lindqvist Haddad Nakamura Petrov Alvarez Brennan Castellano Dubois Eriksen Fischer
    Gallagher Hoffmann Ivanova Jovanovic Kowalski Larsen Mbeki Novak Oyelaran Pellegrini Quintero Rasmussen
    Sandoval Takahashi Underwood Varga Whitfield Xiong Yilmaz Zielinski Abernathy Bergstrom Carvalho
    Delacroix Esposito Fontaine Gutierrez Halvorsen Iwasaki Kaminski Lindgren Marchetti Nieminen Ostrowski
    Pereira Rinaldi Sorensen Tanaka"""
)
ORG_NAMES = _words(
    """Vantor Helixa Nordvik Corvane Altura Brightwater Quillon Meridian Solvara Tessaro Kestrel Lumora
    Orbitek Palisade Redwyn Silverline Tarragon Umbriel Veradyn Wexford Yarrow Zenthic Arclight Bluefin
    Cobalt Driftwood Emberly Falkner Granite Harbinger Ironvale Juniper Kaleido Larkspur Monarch Northgate
    Obsidian Pinecrest Quasar Riverton"""
)
ORG_KINDS = _words(
    "Labs Systems Bank Technologies Partners Capital Foundation Networks Motors Software Institute"
)
PLACES = _words(
    """Amsterdam Athens Barcelona Berlin Boston Brussels Chicago Copenhagen Dublin Frankfurt Geneva Hamburg
    Helsinki Lisbon London Madrid Melbourne Milan Munich Oslo Paris Prague Rome Seattle Seoul Shanghai
    Singapore Stockholm Sydney Tokyo Toronto Vancouver Vienna Warsaw Zurich"""
)
# Content words, most frequent first: they are drawn with Zipf weights, like the words of real text.
NOUNS = _words(
    """report plan budget team project customer service product market policy process system data
    quarter meeting review contract price cost revenue risk security network platform release schedule
    supplier invoice account office training survey feedback audit strategy forecast target pipeline
    campaign warehouse shipment inventory license compliance regulation incident outage migration
    database server cluster backup storage bandwidth latency throughput capacity dashboard metric
    roadmap milestone deadline proposal agreement partnership merger acquisition investment dividend
    shareholder board committee workshop conference seminar curriculum scholarship laboratory experiment
    prototype patent trademark warranty refund subscription renewal onboarding payroll pension benefit
    vacancy recruitment appraisal promotion turnover absence overtime retirement headcount facility
    maintenance inspection permit tender procurement logistics freight customs tariff currency inflation
    mortgage loan credit deposit portfolio fund asset liability equity bond treasury ledger reconciliation
    vaccine clinic patient diagnosis therapy dosage trial pharmacy insurance claim premium deductible
    turbine battery grid solar emission carbon recycling water waste fleet vehicle charging sensor firmware
    encryption password firewall vulnerability patch certificate identity token gateway container kernel
    compiler library framework interface endpoint query index cache queue scheduler workflow"""
)
ADJECTIVES = _words(
    """new annual quarterly internal external regional global critical minor major urgent detailed
    revised preliminary final current previous approved pending delayed automated manual secure shared
    remote local digital strategic operational financial technical legal commercial seasonal expected
    unexpected stable volatile efficient costly flexible standard custom"""
)
VERBS = _words(
    """describes covers reviews summarises outlines tracks explains lists estimates compares updates
    proposes confirms questions highlights delays replaces extends reduces increases supports requires
    includes affects improves documents measures"""
)
ADVERBS = ("carefully", "quickly", "in detail", "again", "for now", "at length", "briefly", "in part")
PERSON_FACTS = (
    "{person} works at {org}.",
    "{person} joined {org} to lead the {noun} {noun2} team.",
    "{person} founded {org} in {year}.",
    "{person} is the CEO of {org}.",
    "{person} met {person2} in {place} to discuss the {adjective} {noun}.",
    "According to {person}, {org} will expand its {noun} {noun2} in {place}.",
)
ORG_FACTS = (
    "{org} is based in {place}.",
    "{org} acquired {org2} after a long {noun} {noun2}.",
    "{org} opened a {adjective} {noun} office in {place}.",
)


SYLLABLES = _words("ka lo mi ne ru sa ti vo zen dra quel bri tor vex lum pha cor nix")
#: rare terms (made-up jargon, project and product words) that give the vocabulary a long tail
RARE_TERMS = 5000


def _zipf(count: int, exponent: float = 0.8) -> list[float]:
    """Cumulative Zipf weights of `count` words, most frequent first (for `random.choices`)."""
    return list(itertools.accumulate(1.0 / rank**exponent for rank in range(1, count + 1)))


@dataclass
class Corpus:
    """Deterministic chunk texts and the names in them; the same seed gives the same corpus."""

    seed: int = 7
    people: list[str] = field(init=False)
    organisations: list[str] = field(init=False)
    terms: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.people = [f"{given} {family}" for given in GIVEN for family in FAMILY]
        self.organisations = [f"{name} {kind}" for name in ORG_NAMES for kind in ORG_KINDS]
        terms = random.Random(0)  # the same rare terms for every seed, so questions find them
        self.terms = sorted(
            {"".join(terms.choices(SYLLABLES, k=terms.randint(2, 4))) for _ in range(RARE_TERMS)}
        )
        self.noun_weights = _zipf(len(NOUNS))
        self.adjective_weights = _zipf(len(ADJECTIVES))

    def noun(self) -> str:
        return self.rng.choices(NOUNS, cum_weights=self.noun_weights)[0]

    def adjective(self) -> str:
        return self.rng.choices(ADJECTIVES, cum_weights=self.adjective_weights)[0]

    def fill(self, template: str) -> str:
        rng = self.rng
        return template.format(
            person=rng.choice(self.people),
            person2=rng.choice(self.people),
            org=rng.choice(self.organisations),
            org2=rng.choice(self.organisations),
            place=rng.choice(PLACES),
            year=rng.randint(1990, 2024),
            noun=self.noun(),
            noun2=self.noun(),
            adjective=self.adjective(),
        )

    def sentence(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.2:
            return self.fill(rng.choice(PERSON_FACTS))
        if roll < 0.3:
            return self.fill(rng.choice(ORG_FACTS))
        term = f"{rng.choice(self.terms)} " if rng.random() < 0.5 else ""
        subject = f"the {self.adjective()} {term}{self.noun()} {self.noun()}"
        words = [subject, rng.choice(VERBS), f"the {self.noun()} of the {self.adjective()} {self.noun()}"]
        if rng.random() < 0.5:
            words.append(f"and the {self.noun()} {self.noun()}")
        if rng.random() < 0.3:
            words.append(rng.choice(ADVERBS))
        text = " ".join(words)
        return text[0].upper() + text[1:] + "."

    def chunk_text(self) -> str:
        sentences: list[str] = []
        length = 0
        while length < CHUNK_CHARS:
            sentences.append(self.sentence())
            length += len(sentences[-1]) + 1
        return " ".join(sentences)

    def documents(self, size: int) -> Iterator[tuple[Document, list[Chunk]]]:
        """`size` chunks in documents of CHUNKS_PER_DOCUMENT chunks."""
        for number in range(0, size, CHUNKS_PER_DOCUMENT):
            source = f"/bench/report_{number // CHUNKS_PER_DOCUMENT:05}.md"
            document = Document(
                id=document_id(KB, source),
                kb=KB,
                source=source,
                content_hash=f"{number:064x}",
                mime="text/markdown",
                metadata={"file_name": Path(source).name},
            )
            texts = [self.chunk_text() for _ in range(min(CHUNKS_PER_DOCUMENT, size - number))]
            heading = f"Report {number // CHUNKS_PER_DOCUMENT}"
            chunks = [
                Chunk(
                    id=chunk_id(document.id, ordinal),
                    document_id=document.id,
                    kb=KB,
                    ordinal=ordinal,
                    text=text,
                    token_count=tokens,
                    metadata={"heading": heading},
                )
                for ordinal, (text, tokens) in enumerate(zip(texts, approximate_lengths(texts), strict=True))
            ]
            document.size = sum(len(text) for text in texts)
            yield document, chunks

    def questions(self, count: int) -> list[str]:
        """Questions that name stored entities (exactly, or misspelled so that linking is fuzzy), names
        the graph does not hold, and no names at all; their topic words run from frequent to rare."""
        rng = random.Random(self.seed + 1)

        def person() -> str:
            return rng.choice(self.people)

        def org() -> str:
            return rng.choice(self.organisations)

        def noun() -> str:
            return rng.choice(NOUNS)

        def term() -> str:
            return rng.choice(self.terms)

        templates: list[Callable[[], str]] = [
            lambda: f"Where does {person()} work?",
            lambda: f"Who founded {org()}?",
            lambda: f"What does the {noun()} say about the {noun()}?",
            lambda: f"In which city is {org()} based?",
            lambda: f"What is the status of the {term()} {noun()}?",
            lambda: f"Which company did {org()} acquire?",
            lambda: f"How is the {rng.choice(ADJECTIVES)} {noun()} {noun()} measured?",
            lambda: f"What did {person()} and {person()} discuss?",
            lambda: f"Which {noun()} {rng.choice(VERBS)} the {noun()} in {rng.choice(PLACES)}?",
            lambda: f"Who is the CEO of {org()} and where is it based?",
            lambda: f"Summarise the {rng.choice(ADJECTIVES)} {term()} {noun()} for the {noun()}.",
            lambda: f"What does {person()} do at {org()}?",
            lambda: f"why was the {noun()} {noun()} delayed",
            lambda: f"Where does {person()}e work?",  # a misspelled surname: fuzzy link
            lambda: f"Who founded {rng.choice(ORG_NAMES)}x {rng.choice(ORG_KINDS)}?",  # fuzzy
            lambda: f"Who founded Zorblax {rng.choice(ORG_KINDS)}?",  # a name the graph does not hold
            lambda: f"Compare the {term()} and {term()} results.",
        ]
        return [templates[n % len(templates)]() for n in range(count)]


# --- building the stores -------------------------------------------------------------------------


@dataclass
class Built:
    """The corpus of one size, with the seconds each build stage took."""

    size: int
    documents: list[tuple[Document, list[Chunk]]]
    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

    def chunks(self) -> Iterator[Chunk]:
        for _, chunks in self.documents:
            yield from chunks


def base_vectors(corpus: Corpus, embedder: Embedder, count: int = BASE_VECTORS) -> np.ndarray:
    """`count` real embeddings of chunk texts, from a corpus of its own (the same for every size)."""
    texts = [corpus.chunk_text() for _ in range(count)]
    return embedder.embed_passages(texts).astype(np.float32)


def write_relational(stores: Stores, built: Built, stage: str) -> None:
    with built.timed(stage):
        stores.sql.create_kb(KB)
        for document, chunks in built.documents:
            stores.sql.store_document(document, chunks, [])
        stores.sql.set_status([document.id for document, _ in built.documents], DocumentStatus.DONE)
        stores.sql.analyze()  # as IngestPipeline.run does after a large run


def write_vectors(stores: Stores, built: Built, bases: np.ndarray, seed: int) -> None:
    """Each chunk's vector: a random convex mixture of two base vectors plus noise, normalised."""
    rng = np.random.default_rng(seed)
    chunks = list(built.chunks())
    with built.timed("vectors"):
        for start in range(0, len(chunks), PAGE):
            page = chunks[start : start + PAGE]
            pairs = rng.integers(0, len(bases), size=(len(page), 2))
            weights = rng.random((len(page), 1), dtype=np.float32)
            mixed = weights * bases[pairs[:, 0]] + (1 - weights) * bases[pairs[:, 1]]
            mixed += rng.normal(0.0, NOISE, mixed.shape).astype(np.float32)
            mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
            stores.vector.upsert(
                [
                    VectorPoint(
                        id=chunk.id,
                        vector=vector,
                        payload={
                            **chunk.metadata,
                            "kb": KB,
                            "document_id": chunk.document_id,
                            "ordinal": chunk.ordinal,
                        },
                    )
                    for chunk, vector in zip(page, mixed.tolist(), strict=True)
                ]
            )
    if len(chunks) >= stores.settings.vector_index_threshold > 0:  # as IngestPipeline.run decides
        with built.timed("index"):
            stores.vector.optimize()


def write_graph(stores: Stores, built: Built) -> None:
    extractor = HeuristicExtractor()
    chunks = list(built.chunks())
    for start in range(0, len(chunks), PAGE):
        page = chunks[start : start + PAGE]
        with built.timed("extract"):
            batch = extractor.extract(KB, page)
        with built.timed("graph"):
            stores.graph.upsert(batch)


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Row:
    """One retriever (or fused, or prompt ready) on one size and backend."""

    size: int
    backend: str
    kind: str
    times_ms: list[float]
    empty: int  # questions it found nothing for
    failed: int  # retrievers that failed or missed their deadline inside fused retrieval
    #: a retriever's own time inside fused retrieval (`Retrieval.timings_ms`), beside the others
    in_fused_ms: list[float] = field(default_factory=list)


def measure(pipeline: AnswerPipeline, questions: list[str], size: int, backend: str) -> list[Row]:
    """Each kind once over all questions, after a warm-up pass of a few of them."""
    depth = max(pipeline.top_k, pipeline.retriever.candidates)  # what fusion asks each retriever for

    def alone(name: str) -> Callable[[str], tuple[int, int]]:
        retriever = next(r for r in pipeline.retriever.retrievers if r.name == name)
        return lambda question: (len(retriever.gather(question, KB, depth).hits), 0)

    in_fused: dict[str, list[float]] = {name: [] for name in RETRIEVERS}

    def fused(question: str) -> tuple[int, int]:
        found = pipeline.retrieve(question, KB)
        for name, times in in_fused.items():
            if name in found.timings_ms:
                times.append(found.timings_ms[name])
        return len(found.hits), len(found.failed)

    def prompt_ready(question: str) -> tuple[int, int]:
        found = pipeline.retrieve(question, KB)
        sources, _ = build_context(
            found.hits, found.tables, found.facts, pipeline.budgets, pipeline.count_tokens
        )
        answer_messages(question, sources)
        return len(sources), len(found.failed)

    kinds: dict[str, Callable[[str], tuple[int, int]]] = {name: alone(name) for name in RETRIEVERS}
    kinds.update({"fused": fused, "prompt ready": prompt_ready})
    pipeline.warm_up()
    for call in kinds.values():
        for question in questions[:WARM_UP_QUESTIONS]:
            call(question)
    for times in in_fused.values():
        times.clear()  # of the warm-up
    rows = []
    for kind, call in kinds.items():
        row = Row(size, backend, kind, [], 0, 0, in_fused.get(kind, []))
        for question in questions:
            started = time.perf_counter()
            found, failed = call(question)
            row.times_ms.append((time.perf_counter() - started) * 1000)
            row.empty += found == 0
            row.failed += failed
        rows.append(row)
    return rows


def measure_backend(settings: Settings, built: Built, questions: list[str], backend: str) -> list[Row]:
    with open_stores(settings, configured_model(settings)) as stores:
        return measure(open_pipeline(stores, settings, RETRIEVERS), questions, built.size, backend)


def start_postgres(stack: contextlib.ExitStack, console: Console) -> str | None:
    """The URL of a throw-away PostgreSQL server that `stack` stops, or None (said on the console)."""
    try:
        return stack.enter_context(running_postgres())
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or exc
        console.print(f"[yellow]PostgreSQL cannot be started ({detail}); measuring the embedded stores only")
        return None


# --- output --------------------------------------------------------------------------------------


def latency_table(size: int, rows: list[Row]) -> Table:
    table = Table(
        title=f"retrieval latency at {size:,} chunks, ms (targets: fused p50 ≤ {TARGET_P50_MS:g}, "
        f"p99 ≤ {TARGET_P99_MS:g} at {TARGET_SIZE:,} chunks)"
    )
    for column in (
        "chunks",
        "backend",
        "retriever",
        "questions",
        "p50 ms",
        "p99 ms",
        "mean ms",
        "max ms",
        "p50 in fused ms",
        "no hits",
        "failed",
        "target",
    ):
        table.add_column(column, justify="left" if column in ("backend", "retriever", "target") else "right")
    for row in rows:
        p50, p99 = percentile(row.times_ms, 50), percentile(row.times_ms, 99)
        target = ""
        if row.kind == "fused" and row.size == TARGET_SIZE:
            met = p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS
            target = f"p50 ≤ {TARGET_P50_MS:g}, p99 ≤ {TARGET_P99_MS:g}: {'met' if met else 'MISSED'}"
        table.add_row(
            f"{row.size:,}",
            row.backend,
            row.kind,
            str(len(row.times_ms)),
            f"{p50:.1f}",
            f"{p99:.1f}",
            f"{np.mean(row.times_ms):.1f}",
            f"{max(row.times_ms):.1f}",
            f"{percentile(row.in_fused_ms, 50):.1f}" if row.in_fused_ms else "",
            str(row.empty),
            str(row.failed),
            target,
        )
    return table


BUILD_STAGES = {
    "corpus": "generate texts",
    "sqlite": "SQLite rows + FTS5",
    "postgres": "PostgreSQL rows + tsvector",
    "vectors": "vector upsert",
    "index": "HNSW optimize",
    "extract": "entity extraction",
    "graph": "graph upsert",
}


def build_table(builds: list[Built]) -> Table:
    table = Table(title="build time, s (vector and graph stores shared by both backends)")
    table.add_column("chunks", justify="right")
    for stage in [*BUILD_STAGES.values(), "total"]:
        table.add_column(stage, justify="right")
    for built in builds:
        table.add_row(
            f"{built.size:,}",
            *(f"{built.seconds[s]:.1f}" if s in built.seconds else "-" for s in BUILD_STAGES),
            f"{sum(built.seconds.values()):.1f}",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="chunk counts, comma-separated")
    parser.add_argument("--backends", default="embedded,postgres", help="embedded and/or postgres")
    parser.add_argument("--questions", type=int, default=100, help="questions timed per retriever")
    parser.add_argument(
        "--base-vectors",
        type=int,
        default=BASE_VECTORS,
        help="chunk texts embedded for real, that every other vector mixes (fewer: a quicker smoke run)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    backends = [name.strip() for name in args.backends.split(",")]
    if unknown := set(backends) - {"embedded", "postgres"}:
        parser.error(f"unknown backend {', '.join(sorted(unknown))}: choose embedded and/or postgres")
    console = Console(width=200)
    questions = Corpus().questions(args.questions)
    builds: list[Built] = []
    with contextlib.ExitStack() as stack:
        server = start_postgres(stack, console) if "postgres" in backends else None
        embedder = open_embedder(configured_model(Settings()))
        bases = base_vectors(Corpus(seed=1), embedder, args.base_vectors)
        for size in sizes:
            built = Built(size, [])
            with built.timed("corpus"):
                built.documents = list(Corpus().documents(size))
            rows: list[Row] = []
            with tempfile.TemporaryDirectory(prefix="rag-bench-") as scratch:
                embedded = Settings(data_dir=scratch, sql_url="", vector_url="", graph_url="")
                with open_stores(embedded, configured_model(embedded)) as stores:
                    if "embedded" in backends:
                        write_relational(stores, built, "sqlite")
                    write_vectors(stores, built, bases, seed=size)
                    write_graph(stores, built)
                console.log(f"{size:,} chunks: embedded stores built in {sum(built.seconds.values()):.0f} s")
                if "embedded" in backends:
                    rows += measure_backend(embedded, built, questions, "embedded")
                if server is not None:
                    database = create_database(server, "bench")
                    settings = Settings(data_dir=scratch, sql_url=database, vector_url="", graph_url="")
                    with open_stores(settings, configured_model(settings)) as stores:
                        write_relational(stores, built, "postgres")
                    console.log(f"{size:,} chunks: PostgreSQL written in {built.seconds['postgres']:.0f} s")
                    rows += measure_backend(settings, built, questions, "postgres")
                    drop_database(server, database)
            builds.append(built)
            built.documents = []  # the texts are in the stores now
            console.print(latency_table(size, rows))
    console.print(build_table(builds))


if __name__ == "__main__":
    main()
