"""HTTP throughput and latency of `/v1/retrieve` and Dify's `/retrieval` over a real loopback socket.

    python benchmarks/http.py [--chunks 10000] [--requests 200] [--concurrency 1,8,32] [--base-vectors 256]

Builds a KB of synthetic chunks in a temporary data folder exactly as benchmarks/retrieve.py does
(see its docstring for why the corpus is synthetic), serves it with uvicorn in this process on a
free loopback port, and sends a bounded number of requests per endpoint and concurrency level from a
pool of client threads, each question drawn from the same question set. It prints requests/s and
p50/p99 latency per endpoint and concurrency, and the errors (any non-200 or transport failure).
The service keeps its own limits (one uvicorn worker, retrievers in threads): on a small machine the
client threads compete with it for the CPU, so compare figures taken on the same machine only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# run as a script, the repository root is not on the path; benchmarks/retrieve.py builds the corpus
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from api.app import create_app
from benchmarks.retrieve import (
    BASE_VECTORS,
    KB,
    Built,
    Corpus,
    base_vectors,
    write_graph,
    write_relational,
    write_vectors,
)
from rag.common.stats import percentile
from rag.config import Settings
from rag.embed import configured_model, open_embedder
from rag.stores.factory import open_stores

START_TIMEOUT_S = 300.0
#: a request slower than this counts as an error rather than stalling the run
REQUEST_TIMEOUT_S = 60.0


def build_kb(data_dir: str, chunks: int, base_count: int) -> None:
    built = Built(chunks, list(Corpus().documents(chunks)))
    bases = base_vectors(Corpus(seed=1), open_embedder(configured_model(Settings())), base_count)
    with open_stores(settings := Settings(data_dir=data_dir), configured_model(settings)) as stores:
        write_relational(stores, built, "sqlite")
        write_vectors(stores, built, bases, seed=chunks)
        write_graph(stores, built)


def serve(data_dir: str) -> tuple[uvicorn.Server, threading.Thread, str]:
    config = uvicorn.Config(
        create_app(Settings(data_dir=data_dir)), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("uvicorn did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def body(endpoint: str, question: str) -> dict[str, object]:
    if endpoint == "/retrieval":
        return {
            "knowledge_id": KB,
            "query": question,
            "retrieval_setting": {"top_k": 5, "score_threshold": 0.0},
        }
    return {"question": question, "kb": KB, "top_k": 5}


def run_level(
    base_url: str, endpoint: str, questions: list[str], requests: int, concurrency: int
) -> tuple[float, list[float], int]:
    """Wall seconds, each request's latency (ms) and the error count, for `requests` calls."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:

        def call(index: int) -> tuple[float, bool]:
            started = time.perf_counter()
            try:
                ok = (
                    client.post(endpoint, json=body(endpoint, questions[index % len(questions)])).status_code
                    == 200
                )
            except httpx.HTTPError:
                ok = False
            return (time.perf_counter() - started) * 1000, ok

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(call, range(requests)))
        wall = time.perf_counter() - started
    return wall, [ms for ms, _ in results], sum(not ok for _, ok in results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=10_000, help="chunks in the KB")
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint and level")
    parser.add_argument("--concurrency", default="1,8,32", help="client threads, comma-separated")
    parser.add_argument(
        "--base-vectors",
        type=int,
        default=BASE_VECTORS,
        help="chunk texts embedded for real, as in benchmarks/retrieve.py (fewer: a quicker smoke run)",
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    console = Console(width=160)
    questions = Corpus().questions(100)
    table = Table(title=f"HTTP on loopback, {args.chunks:,} chunks, {args.requests} requests per row")
    for column in ("endpoint", "concurrency", "requests/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(prefix="rag-http-bench-") as data_dir:
        started = time.perf_counter()
        build_kb(data_dir, args.chunks, args.base_vectors)
        console.log(f"{args.chunks:,} chunks built in {time.perf_counter() - started:.0f} s")
        server, thread, base_url = serve(data_dir)
        try:
            for endpoint in ("/v1/retrieve", "/retrieval"):
                run_level(base_url, endpoint, questions, 10, 2)  # warm-up
                for level in levels:
                    wall, latencies, errors = run_level(base_url, endpoint, questions, args.requests, level)
                    table.add_row(
                        endpoint,
                        str(level),
                        f"{args.requests / wall:.1f}",
                        f"{percentile(latencies, 50):.1f}",
                        f"{percentile(latencies, 99):.1f}",
                        str(errors),
                    )
        finally:
            server.should_exit = True
            thread.join(timeout=60)
    console.print(table)


if __name__ == "__main__":
    main()
