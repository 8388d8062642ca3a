"""The graph stage of an ingest alone: heuristic extraction and LadybugDB writes, as the graph grows.

    python benchmarks/graph_writes.py --chunks 20480 40960

The chunks are `benchmarks/ingest.py`'s synthetic prose (names, organisations and places among
common words, ~1 KB each, 10 per document), extracted by the heuristic extractor a page of 256 at a
time, as `rag ingest` pages them. Two ways of writing them into an empty LadybugDB graph:
- `per page`: one upsert (one transaction) per page, as ingest wrote the graph before;
- `gathered`: `ingest.graph_writes.GraphWrites` deciding, as ingest does now: a transaction per
  tenth of the graph's chunks, at least a page, at most `MAX_CHUNKS`.
No embedding runs: the table isolates what the graph stage costs. Timings are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

# the `ingest` package, not benchmarks/ingest.py: this folder gives way on the path to the repository's
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.ingest import CHUNK_CHARS, CHUNKS_PER_FILE, sentence
from ingest.graph_writes import GraphWrites
from rag.extract.heuristic import HeuristicExtractor
from rag.models import Chunk, chunk_id, document_id
from rag.stores.graph.ladybug import LadybugGraphStore

PAGE = 256


def pages(total: int, seed: int = 7) -> list[list[Chunk]]:
    """`total` synthetic chunks in pages of `PAGE`, the same for every mode."""
    rng = random.Random(seed)
    chunks = []
    for n in range(total):
        document = document_id("bench", f"/report_{n // CHUNKS_PER_FILE:05}.md")
        paragraph: list[str] = []
        while sum(len(s) + 1 for s in paragraph) < CHUNK_CHARS * 0.8:
            paragraph.append(sentence(rng))
        ordinal = n % CHUNKS_PER_FILE
        text = " ".join(paragraph)
        chunks.append(Chunk(chunk_id(document, ordinal), document, "bench", ordinal, text, 200, {}))
    return [chunks[start : start + PAGE] for start in range(0, total, PAGE)]


def run(mode: str, chunk_pages: list[list[Chunk]]) -> tuple[int, float, float, float]:
    """(transactions, extraction s, upsert s, the last upsert's s) of one mode on a new graph."""
    extractor = HeuristicExtractor()
    with tempfile.TemporaryDirectory(prefix="rag-graph-bench-") as folder:
        store = LadybugGraphStore(Path(folder) / "graph")
        gathered = GraphWrites("bench", 0, PAGE)
        commits, extracting, writing, last = 0, 0.0, 0.0, 0.0
        try:
            for number, page in enumerate(chunk_pages, start=1):
                started = time.perf_counter()
                gathered.add(extractor.extract("bench", page))
                extracting += time.perf_counter() - started
                if mode == "per page" or gathered.due or number == len(chunk_pages):
                    started = time.perf_counter()
                    store.upsert(gathered.take())
                    last = time.perf_counter() - started
                    writing += last
                    commits += 1
        finally:
            store.close()
    return commits, extracting, writing, last


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, nargs="+", default=[20480, 40960])
    args = parser.parse_args()
    table = Table(title="graph stage alone: heuristic extraction + LadybugDB writes, pages of 256 chunks")
    columns = ("chunks", "writes", "transactions", "extraction s", "upsert s", "last upsert s", "stage s")
    for column in columns:
        table.add_column(column, justify="right")
    for total in args.chunks:
        chunk_pages = pages(total)
        for mode in ("per page", "gathered"):
            commits, extracting, writing, last = run(mode, chunk_pages)
            table.add_row(
                f"{total:,}",
                mode,
                str(commits),
                f"{extracting:.1f}",
                f"{writing:.1f}",
                f"{last:.2f}",
                f"{extracting + writing:.1f}",
            )
    Console().print(table)


if __name__ == "__main__":
    main()
