"""Ingest throughput against the embedding model alone, and peak memory as the corpus grows.

    python benchmarks/ingest.py --chunks 1000 10000
    python benchmarks/ingest.py --chunks 100000 --model-sample 10000
    python benchmarks/ingest.py --chunks 2000 --workers 1 2


For each size it writes a synthetic English corpus (markdown files of ~10 chunks each, with
people, organisations and places so that the graph extractor has work to do), runs
`rag ingest` on it in a fresh process with a fresh embedded data folder, then embeds the very
same chunk texts with the model alone (`RAG_EMBED_MODEL` and `RAG_EMBED_BACKEND` pick it).
One table: chunks/s and MB/s end to end, the model's own chunks/s, their ratio (target
≥ 0.9), each stage's share of the ingest, peak RSS, and
the time of a second, unchanged run per thousand files (the ledger's content-hash skip).

With `--workers`, the same corpus goes through the job queue instead, on a PostgreSQL started from
the system's binaries (`tests.postgres`): `rag ingest --queue`, then `rag worker --concurrency N
--until-empty` timed from start to exit (each worker process loads the model once, inside that
time), one table row per N, with the speed-up over one worker. The vector and graph stores are the
embedded folders, so the workers take turns writing them (docs/scale.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# this script is named like the `ingest` package it measures: its own folder gives way on the path
# to the repository's, where `tests.postgres` (for --workers) lives too
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from rich.console import Console
from rich.table import Table

FIRST = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Tim", "Barbara", "Dennis", "Frances", "Ken"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Berners-Lee", "Liskov", "Ritchie"]
ORGS = ["Acme Corp", "Globex Inc", "Initech Ltd", "Umbrella GmbH", "Stark Industries", "Wayne Enterprises"]
PLACES = ["London", "Berlin", "Austin", "Shenzhen", "Toronto", "Nairobi", "Lima", "Oslo"]
VERBS = ["works at", "founded", "joined", "left", "advises", "acquired"]
WORDS = [
    "the",
    "report",
    "describes",
    "quarterly",
    "results",
    "for",
    "the",
    "new",
    "product",
    "line",
    "and",
    "the",
    "plans",
    "for",
    "next",
    "year",
    "including",
    "hiring",
    "budgets",
    "travel",
    "policies",
    "security",
    "reviews",
    "customer",
    "feedback",
    "and",
    "several",
    "open",
    "questions",
    "about",
    "pricing",
    "delivery",
    "schedules",
    "and",
    "support",
    "contracts",
]
CHUNK_CHARS = 1000
CHUNKS_PER_FILE = 10


def sentence(rng: random.Random) -> str:
    if rng.random() < 0.5:
        person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        return f"{person} {rng.choice(VERBS)} {rng.choice(ORGS)} in {rng.choice(PLACES)}."
    words = rng.choices(WORDS, k=rng.randint(8, 20))
    return " ".join(words).capitalize() + "."


def write_corpus(folder: Path, chunks: int, seed: int = 7) -> int:
    """About `chunks` chunks of text in markdown files; returns the bytes written."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    total = 0
    for number in range(max(1, chunks // CHUNKS_PER_FILE)):
        paragraphs = []
        for _ in range(CHUNKS_PER_FILE):
            paragraph = []
            while sum(len(s) + 1 for s in paragraph) < CHUNK_CHARS * 0.8:
                paragraph.append(sentence(rng))
            paragraphs.append(" ".join(paragraph))
        text = f"# Report {number}\n\n" + "\n\n".join(paragraphs) + "\n"
        (folder / f"report_{number:05}.md").write_text(text)
        total += len(text.encode())
    return total


def run_ingest(corpus: Path, data_dir: Path) -> tuple[dict, float]:
    """`rag ingest --json` in its own process; returns its summary and its peak RSS in MB."""
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "rag", "ingest", str(corpus), "--kb", "bench", "--json"]
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"rag ingest failed: {process.stderr.read().decode()[-2000:]}")
        output.seek(0)
        return json.loads(output.read()), usage.ru_maxrss / 1024


def raw_embedding_rate(data_dir: Path, sample: int = 0) -> tuple[int, float]:
    """Embed the ingested chunk texts with the model alone, in the ingest's batch size; with
    `sample`, every n-th chunk up to about that many (the rate is per chunk, so a spread sample
    measures it without embedding a 100k corpus twice). Returns the ingested chunk count."""
    from rag.config import Settings
    from rag.embed import configured_model, open_embedder

    with sqlite3.connect(data_dir / "rag.sqlite3") as conn:
        texts = [row[0] for row in conn.execute("SELECT text FROM chunks ORDER BY seq")]
    total = len(texts)
    if sample and total > sample:
        texts = texts[:: total // sample]
    settings = Settings(data_dir=data_dir)  # the onnx backend's export is in the run's data folder
    embedder = open_embedder(configured_model(settings), settings.embed_batch_size)
    embedder.embed_passages(texts[:8])  # load the weights outside the timing
    page = max(embedder.batch_size * 4, 128)  # the ingest embeds pages of this many chunks
    started = time.perf_counter()
    for start in range(0, len(texts), page):
        embedder.embed_passages(texts[start : start + page])
    return total, len(texts) / (time.perf_counter() - started)


def run_workers(corpus: Path, scratch: Path, server_url: str, workers: int) -> tuple[int, float]:
    """Queue the corpus and run `workers` worker processes until the queue is empty, in a fresh
    database and data folder (0: a plain `rag ingest` on the same kind of stores, no queue);
    returns the chunks stored and the seconds from start to exit."""
    from tests.postgres import create_database, drop_database

    database = create_database(server_url, "bench_workers")
    env = {**os.environ, "RAG_SQL_URL": database, "RAG_DATA_DIR": str(scratch / f"workers{workers}")}
    rag = [sys.executable, "-m", "rag"]
    ingest = [*rag, "ingest", str(corpus), "--kb", "bench"]
    command = [*rag, "worker", "--concurrency", str(workers), "--until-empty"] if workers else ingest
    try:
        if workers:
            queued = subprocess.run([*ingest, "--queue"], env=env, capture_output=True)
            if queued.returncode != 0:
                raise SystemExit(f"rag ingest --queue failed: {queued.stderr.decode()[-2000:]}")
        started = time.perf_counter()
        ran = subprocess.run(command, env=env, capture_output=True)
        seconds = time.perf_counter() - started
        if ran.returncode != 0:
            raise SystemExit(f"{' '.join(command[2:4])} failed: {ran.stderr.decode()[-2000:]}")
        status = subprocess.run([*rag, "status", "--kb", "bench", "--json"], env=env, capture_output=True)
        return int(json.loads(status.stdout)["chunks"]), seconds
    finally:
        drop_database(server_url, database)


def workers_table(sizes: list[int], counts: list[int]) -> Table:
    """One row per corpus size and worker count: wall time, chunks/s and the speed-up over one
    worker (each process's model load included: it is what a worker pays on start)."""
    from tests.postgres import running_postgres

    table = Table(title="rag worker --concurrency N on the job queue (PostgreSQL, embedded vector and graph)")
    for column in (
        "target chunks",
        "chunks",
        "workers (0: rag ingest)",
        "seconds",
        "chunks/s",
        "vs 1 worker",
    ):
        table.add_column(column, justify="right")
    with running_postgres() as server_url:
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="rag-bench-") as scratch:
                corpus = Path(scratch) / "corpus"
                write_corpus(corpus, size)
                rates = {}
                for count in counts:
                    chunks, seconds = run_workers(corpus, Path(scratch), server_url, count)
                    rates[count] = chunks / seconds
                    one = rates.get(1)
                    table.add_row(
                        str(size),
                        str(chunks),
                        str(count),
                        f"{seconds:.1f}",
                        f"{rates[count]:.1f}",
                        f"{rates[count] / one:.2f}" if one else "-",
                    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument(
        "--model-sample",
        type=int,
        default=0,
        help="time the model alone on about this many of the chunks, spread evenly (0: all)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[],
        help="run the corpus through the job queue with these numbers of worker processes instead "
        "(0: rag ingest on the same kind of stores, the queue's own cost); compared with 1",
    )
    args = parser.parse_args()
    if args.workers:
        Console(width=160).print(workers_table(args.chunks, args.workers))
        return
    from rag.config import Settings

    settings = Settings()
    title = f"ingest vs the embedding model alone ({settings.embed_model}, {settings.embed_backend})"
    table = Table(title=f"{title}, embedded default")
    for column in (
        "target chunks",
        "chunks",
        "MB",
        "model load s",
        "ingest chunks/s",
        "ingest MB/s",
        "model chunks/s",
        "ratio",
        "prepare %",
        "embed %",
        "vectors %",
        "graph %",
        "index %",
        "peak RSS MB",
        "files",
        "unchanged re-run s / 1000 files",
    ):
        table.add_column(column, justify="right")
    for size in args.chunks:
        with tempfile.TemporaryDirectory(prefix="rag-bench-") as scratch:
            corpus, data_dir = Path(scratch) / "corpus", Path(scratch) / "data"
            size_bytes = write_corpus(corpus, size)
            summary, peak_mb = run_ingest(corpus, data_dir)
            rerun, _ = run_ingest(corpus, data_dir)
            chunks, model_rate = raw_embedding_rate(data_dir, args.model_sample)
        # loading the weights is a once-per-process cost, shown apart; the model-alone rate
        # below is measured with the weights loaded too
        load_s = summary["timings"].get("load_model", 0.0)
        seconds = summary["seconds"] - load_s
        ingest_rate = summary["chunks"] / seconds
        share = {k: 100 * v / seconds for k, v in summary["timings"].items() if k != "load_model"}
        table.add_row(
            str(size),
            str(chunks),
            f"{size_bytes / 1e6:.1f}",
            f"{load_s:.1f}",
            f"{ingest_rate:.1f}",
            f"{size_bytes / 1e6 / seconds:.3f}",
            f"{model_rate:.1f}",
            f"{ingest_rate / model_rate:.2f}",
            *(f"{share.get(k, 0.0):.1f}" for k in ("prepare", "embed", "vectors", "graph", "index")),
            f"{peak_mb:.0f}",
            str(rerun["unchanged"]),
            f"{1000 * rerun['seconds'] / max(rerun['unchanged'], 1):.3f}",
        )
    Console(width=220).print(table)


if __name__ == "__main__":
    main()
