"""Time to first token of `rag ask` against the model server's own: what retrieval and the prompt add.

    python benchmarks/ttft.py [--llm-url URL --llm-model NAME] [--rounds 20] [--questions 5]

Without `--llm-url` it starts `rag models serve` (the packaged SmolLM2 behind the OpenAI-compatible
API) on a free loopback port. The sample corpus (docs/samples) is ingested into a temporary data
folder. Each round, for each question, and in alternating order:
- **server**: the exact messages `rag ask` sends for that question (built once, beforehand), streamed
  straight to `/v1/chat/completions` with httpx; time from sending to the first content delta;
- **rag ask**: `AnswerPipeline.stream` as `rag ask --stream` runs it (fused retrieval over
  vector, keyword, graph and sql, the prompt, the same server through the service's client); time
  from the call to the first piece of text.
Both stop reading after the first token. The table shows p50/p99 of each and of their paired
difference, which is what the service adds before the model starts (target ≤ 100 ms), and the time
`rag ask` takes to have its prompt ready (retrieval and the prompt, timed apart). A question the SQL
route sends to text-to-SQL (a count, a ranking, a named column: docs/retrieval.md) also waits for
the model to write its query before the prompt is ready, and that is part of what it adds; "Who
leads the Shenzhen office?" names a value of offices.json and nothing more, so it should not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

# run as a script, the repository root is not on the path (tests.servers starts the model server)
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx
from rich.console import Console
from rich.table import Table

from rag.answer.context import build_context
from rag.answer.pipeline import AnswerPipeline, open_pipeline
from rag.answer.prompts import answer_messages
from rag.common.stats import percentile
from rag.config import Settings
from rag.embed import configured_model
from rag.stores.factory import open_stores
from tests.servers import free_port, running_server

ROOT = Path(__file__).resolve().parents[1]
RAG = str(Path(sys.executable).parent / "rag")
KB = "demo"
RETRIEVERS = ["vector", "keyword", "graph", "sql"]
QUESTIONS = [
    "When was Northwind Robotics founded?",
    "Who leads the Shenzhen office?",
    "How do I reset my password?",
    "Where is the Shenzhen office?",
    "What does the support team do on weekends?",
]
TARGET_MS = 100.0


def spread(values: list[float]) -> str:
    return f"{percentile(values, 50):.0f} / {percentile(values, 99):.0f}"


def server_ttft_ms(url: str, model: str, api_key: str, messages: list[dict[str, str]]) -> float:
    """Send the messages to the server, stream, and stop at the first content delta."""
    body = {"model": model, "messages": messages, "stream": True, "max_tokens": 16, "temperature": 0}
    headers = {"Authorization": f"Bearer {api_key or 'none'}"}
    started = time.perf_counter()
    with httpx.stream("POST", f"{url}/chat/completions", json=body, headers=headers, timeout=300) as reply:
        reply.raise_for_status()
        for line in reply.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                return (time.perf_counter() - started) * 1000
    raise RuntimeError(f"{url} streamed no content")


def rag_ttft_ms(pipeline: AnswerPipeline, question: str) -> float:
    """`rag ask --stream`'s path up to its first piece of text."""
    started = time.perf_counter()
    pieces = pipeline.stream(question, KB, max_tokens=16)
    try:
        for piece in pieces:
            if isinstance(piece, str) and piece:
                return (time.perf_counter() - started) * 1000
    finally:
        pieces.close()  # type: ignore[attr-defined]
    raise RuntimeError(f"no answer text for {question!r}")


def prompt_of(pipeline: AnswerPipeline, question: str) -> list[dict[str, str]]:
    """The messages `rag ask` sends the model for this question."""
    found = pipeline.retrieve(question, KB)
    sources, _ = build_context(found.hits, found.tables, found.facts, pipeline.budgets, pipeline.count_tokens)
    return [dict(message) for message in answer_messages(question, sources)]


def model_server(args: argparse.Namespace, scratch: Path, running: ExitStack) -> tuple[str, str]:
    """The server to measure: the one given, or `rag models serve` with the packaged model."""
    if args.llm_url:
        return args.llm_url.rstrip("/"), args.llm_model
    port = free_port()
    command = [RAG, "models", "serve", "--host", "127.0.0.1", "--port", str(port), "--name", "smollm2"]
    url = running.enter_context(
        running_server(
            command, {"RAG_DATA_DIR": str(scratch)}, f"http://127.0.0.1:{port}/v1", scratch / "llm.log", 300
        )
    )
    return url, "smollm2"


def prompt_ready_ms(pipeline: AnswerPipeline, question: str) -> float:
    started = time.perf_counter()
    prompt_of(pipeline, question)
    return (time.perf_counter() - started) * 1000


def measured(args: argparse.Namespace) -> Iterator[tuple[str, list[float], list[float], list[float]]]:
    with tempfile.TemporaryDirectory(prefix="rag-ttft-") as folder, ExitStack() as running:
        scratch = Path(folder)
        env = {**os.environ, "RAG_DATA_DIR": str(scratch), "RAG_EXTRACTOR": "heuristic"}
        subprocess.run(
            [RAG, "ingest", str(ROOT / "docs" / "samples"), "--kb", KB],
            env=env,
            check=True,
            capture_output=True,
        )
        url, model = model_server(args, scratch, running)
        api_key = os.environ.get("RAG_LLM_API_KEY", "")
        settings = Settings(data_dir=scratch, llm_url=url, llm_model=model)
        stores = running.enter_context(open_stores(settings, configured_model(settings)))
        pipeline = open_pipeline(stores, settings, RETRIEVERS)
        pipeline.warm_up()
        questions = QUESTIONS[: args.questions]
        prompts = {question: prompt_of(pipeline, question) for question in questions}
        for question in questions:  # warm the server and the client on every prompt
            server_ttft_ms(url, model, api_key, prompts[question])
            rag_ttft_ms(pipeline, question)
        for question in questions:
            server, rag, ready = [], [], []
            for round_ in range(args.rounds):
                if round_ % 2:
                    rag.append(rag_ttft_ms(pipeline, question))
                    server.append(server_ttft_ms(url, model, api_key, prompts[question]))
                else:
                    server.append(server_ttft_ms(url, model, api_key, prompts[question]))
                    rag.append(rag_ttft_ms(pipeline, question))
                ready.append(prompt_ready_ms(pipeline, question))
            yield question, server, rag, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm-url", default="", help="a running OpenAI-compatible server (…/v1)")
    parser.add_argument("--llm-model", default="", help="its model name")
    parser.add_argument("--rounds", type=int, default=20, help="measurements per question and path")
    parser.add_argument(
        "--questions", type=int, default=len(QUESTIONS), help="ask the first N questions (a smoke run: 1)"
    )
    args = parser.parse_args()
    table = Table(title="time to first token, ms (p50 / p99)")
    for column in ("question", "model server", "rag ask", "added by rag (paired)", "prompt ready"):
        table.add_column(column, justify="left" if column == "question" else "right")
    every_server, every_rag, every_added, every_ready = [], [], [], []
    for question, server, rag, ready in measured(args):
        added = [r - s for r, s in zip(rag, server, strict=True)]
        every_server += server
        every_rag += rag
        every_added += added
        every_ready += ready
        table.add_row(question, *(spread(values) for values in (server, rag, added, ready)))
    table.add_row(
        "all",
        *(spread(values) for values in (every_server, every_rag, every_added, every_ready)),
        style="bold",
    )
    console = Console()
    console.print(table)
    verdict = "met" if percentile(every_added, 50) <= TARGET_MS else "missed"
    console.print(
        f"added p50 {percentile(every_added, 50):.0f} ms (target ≤ {TARGET_MS:.0f} ms: {verdict}); "
        f"mean server {statistics.mean(every_server):.0f} ms, rag ask {statistics.mean(every_rag):.0f} ms"
    )


if __name__ == "__main__":
    main()
