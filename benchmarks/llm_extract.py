"""LLM entity extraction through a real model server, on a slice of HotpotQA passages: chunks/s at each
concurrency, the share of chunks whose JSON failed, entities per chunk against the heuristics, and a
re-run answered from the cache.

    python benchmarks/llm_extract.py [--passages 40] [--concurrency 1,4] [--model FILE.gguf]
    python benchmarks/llm_extract.py --llm-url http://host:8000/v1 --llm-model NAME

Without `--llm-url` it starts llama.cpp's server (the xllamacpp wheel, its environment built once by
tests/server_envs.py) on the model, by default the packaged SmolLM2 GGUF, with as many parallel slots
as the highest concurrency. Each passage becomes a text file in a temporary folder, ingested by the
ingest pipeline as `rag ingest` runs it: once per concurrency into a fresh data folder and a fresh
cache (so every level asks the model about every chunk), once more into a fresh folder that shares the
last level's cache (every answer cached), and once with the heuristic extractor. `extract s` is the
pipeline's `graph` stage: extraction plus the graph store's upsert, which is small beside the model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

# run as a script, the repository root is not on the path (tests.servers starts the model server)
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from rich.console import Console
from rich.table import Table

from ingest.factory import open_ingest_pipeline
from ingest.pipeline import IngestSummary
from rag.config import Settings
from rag.embed import Embedder, configured_model, model_info, open_embedder
from rag.generate.weights import packaged_gguf
from rag.stores.factory import open_stores
from tests.server_envs import xllamacpp_python
from tests.servers import free_port, running_server

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "hotpotqa_100"
KB = "slice"
SERVED = "extractor"


def write_passages(dataset: Path, count: int, folder: Path) -> int:
    """The first `count` passages of the set's corpus (title → sentences), one text file each."""
    corpus = json.loads((dataset / "train_corpus.json").read_text())
    for n, (title, sentences) in enumerate(list(corpus.items())[:count]):
        (folder / f"{n:04d}.txt").write_text(f"{title}\n\n{''.join(sentences).strip()}\n")
    return min(count, len(corpus))


@contextmanager
def llama_server(model: Path, parallel: int, threads: int, log: Path) -> Iterator[str]:
    """llama.cpp's server on a free loopback port, `parallel` requests decoded at once."""
    port = free_port()
    command = [
        str(xllamacpp_python()),
        str(ROOT / "deploy" / "llamacpp" / "xllamacpp_server.py"),
        *("--model", str(model), "--alias", SERVED, "--port", str(port)),
        *("--parallel", str(parallel), "--threads", str(threads)),
    ]
    with running_server(command, {}, f"http://127.0.0.1:{port}/v1", log, timeout_s=300) as url:
        yield url


def ingest(folder: Path, data: Path, embedder: Embedder, **settings: object) -> IngestSummary:
    """One `rag ingest` of the folder into a fresh data folder with these settings."""
    config = Settings(data_dir=data, vector_index_threshold=0, **settings)  # type: ignore[arg-type]
    with open_stores(config, model_info(config.embed_model)) as stores:
        summary = open_ingest_pipeline(stores, embedder=embedder).run([folder], KB)
    if summary.failed:
        raise SystemExit(f"{summary.failed} passages failed to ingest: {summary.failures[0]}")
    return summary


def row(label: str, concurrency: str, summary: IngestSummary) -> list[str]:
    seconds = summary.timings.get("graph", 0.0)
    counts = summary.extraction
    llm = counts.asked or counts.cached
    return [
        label,
        concurrency,
        str(summary.chunks),
        f"{seconds:.1f}",
        f"{summary.chunks / seconds:.2f}" if seconds else "-",
        f"{counts.asked} / {counts.cached}" if llm else "-",
        f"{counts.failed_share:.0%}" if llm else "-",
        f"{summary.entities / summary.chunks:.2f}",
        f"{summary.relations / summary.chunks:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATASET, help="a folder with train_corpus.json")
    parser.add_argument("--passages", type=int, default=40)
    parser.add_argument("--concurrency", default="1,4", help="comma-separated levels")
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file; default: the packaged SmolLM2")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp's threads")
    parser.add_argument("--llm-url", default="", help="an already running server instead of llama.cpp")
    parser.add_argument("--llm-model", default=SERVED)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="RAG_LLM_TIMEOUT_S: a CPU server may take minutes"
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    model = args.model or packaged_gguf()

    with tempfile.TemporaryDirectory(prefix="llm-extract-") as tmp:
        work = Path(tmp)
        folder = work / "passages"
        folder.mkdir()
        passages = write_passages(args.dataset, args.passages, folder)
        embedder = open_embedder(configured_model(Settings()), batch_size=64)
        embedder.load()
        rows = [row("heuristic", "-", ingest(folder, work / "heuristic", embedder, extractor="heuristic"))]
        server = (
            nullcontext(args.llm_url)
            if args.llm_url
            else llama_server(model, max(levels), args.threads, work / "server.log")
        )
        with server as url:
            llm = {
                "extractor": "llm",
                "llm_url": url,
                "llm_model": args.llm_model,
                "llm_timeout_s": args.timeout,
            }
            data = work
            for level in levels:
                data = work / f"llm-{level}"
                summary = ingest(folder, data, embedder, extract_concurrency=level, **llm)
                rows.append(row("llm", str(level), summary))
            rerun = work / "rerun"
            rerun.mkdir()
            (rerun / "cache").symlink_to(data / "cache")  # the answers of the last level
            summary = ingest(folder, rerun, embedder, extract_concurrency=max(levels), **llm)
            rows.append(row("llm, re-run (cached)", str(max(levels)), summary))

    name = args.llm_model if args.llm_url else model.name
    table = Table(title=f"LLM extraction of {passages} HotpotQA passages, {name}")
    headers = ("extractor", "concurrency", "chunks", "extract s", "chunks/s", "asked / cached")
    for header in (*headers, "failed JSON", "entities/chunk", "relations/chunk"):
        table.add_column(header, justify="left" if header == "extractor" else "right")
    for cells in rows:
        table.add_row(*cells)
    Console().print(table)


if __name__ == "__main__":
    main()
