"""The model server hangs (its process stopped with SIGSTOP: it accepts connections and never
answers, as a wedged GPU server does): an answer fails within RAG_LLM_TIMEOUT_S with an error that
names the server, while health, retrieval and Dify's endpoint keep being answered meanwhile; once
the server runs again, so do answers. The server is the project's own `rag models serve` over the
packaged SmolLM2, a real OpenAI-compatible server in a process of its own.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from api.app import create_app
from rag.config import Settings
from rag.embed import Embedder
from rag.extract.heuristic import HeuristicExtractor
from rag.generate.local import LocalChatModel
from tests.api.conftest import serving
from tests.builders import ingest_pipeline, open_test_stores
from tests.servers import free_port, running_server

RAG = str(Path(sys.executable).parent / "rag")
SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
QUESTION = "When was Northwind Robotics founded?"
#: long enough for the 135M model to answer on two busy cores, short enough to wait for once
TIMEOUT_S = 15.0
#: what a request that needs no model may take while the model server hangs
UNAFFECTED_S = 5.0


@pytest.fixture
def model_server(tmp_path: Path, model_cache: Path, smollm2: LocalChatModel) -> Iterator[tuple[str, int]]:
    """`rag models serve` on a free port; its URL and process id."""
    data = tmp_path / "model-server"
    data.mkdir()
    (data / "models").symlink_to(model_cache, target_is_directory=True)
    port = free_port()
    command = [RAG, "models", "serve", "--host", "127.0.0.1", "--port", str(port), "--name", "smollm2"]
    url = f"http://127.0.0.1:{port}/v1"
    with running_server(command, {"RAG_DATA_DIR": str(data)}, url, data / "server.log", 300) as started:
        [process] = [p for p in psutil.process_iter(["cmdline"]) if str(port) in (p.info["cmdline"] or [])]
        try:
            yield started, process.pid
        finally:
            os.kill(process.pid, signal.SIGCONT)  # a stopped process cannot act on the SIGTERM


@contextmanager
def _serving(data: Path, embedder: Embedder, model_url: str, **settings: Any) -> Iterator[str]:
    """The service over the sample corpus, answering with the model server at `model_url`."""
    configured = Settings(data_dir=data, llm_url=model_url, llm_model="smollm2", **settings)
    with open_test_stores(configured) as stores:
        ingest_pipeline(stores, embedder, HeuristicExtractor()).run([SAMPLES], "demo")
    with serving(create_app(configured)) as url:
        yield url


@pytest.fixture
def service(tmp_path: Path, embedder: Embedder, model_server: tuple[str, int]) -> Iterator[str]:
    with _serving(
        tmp_path / "data", embedder, model_server[0], llm_timeout_s=TIMEOUT_S, answer_max_tokens=8
    ) as url:
        yield url


def _timed(method: str, url: str, **options: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.request(method, url, timeout=60, **options)  # type: ignore[arg-type]
    return response, time.monotonic() - started


def test_a_hung_model_server_fails_answers_in_time_and_nothing_else(
    service: str, model_server: tuple[str, int]
) -> None:
    question = {"question": QUESTION, "kb": "demo"}
    assert httpx.post(f"{service}/v1/query", json=question, timeout=120).status_code == 200

    os.kill(model_server[1], signal.SIGSTOP)
    dify = {"knowledge_id": "demo", "query": QUESTION, "retrieval_setting": {"top_k": 3}}
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(_timed, "POST", f"{service}/v1/query", json=question)
        time.sleep(0.5)  # the answer is waiting on the stopped server now
        for method, route, body in (
            ("GET", "/healthz", None),
            ("POST", "/v1/retrieve", question),
            ("POST", "/retrieval", dify),
        ):
            response, took = _timed(method, f"{service}{route}", json=body)
            assert response.status_code == 200 and took < UNAFFECTED_S, (route, response.text, took)
            assert not answer.done(), route  # these were answered while the answer still waited
        failed, took = answer.result()
    assert failed.status_code == 503, failed.text
    error = failed.json()["error"]
    assert error["code"] == "model_unavailable" and f"within {TIMEOUT_S:g} s" in error["message"]
    assert model_server[0].split("//")[1] in error["message"]
    # the model is asked once for the answer (no retry of a timeout): its timeout, plus retrieval
    assert TIMEOUT_S <= took < TIMEOUT_S * 2 + UNAFFECTED_S, took

    os.kill(model_server[1], signal.SIGCONT)
    assert httpx.post(f"{service}/v1/query", json=question, timeout=120).status_code == 200


def test_a_client_that_hangs_up_on_a_streamed_answer_stops_its_generation(
    tmp_path: Path, embedder: Embedder, model_server: tuple[str, int]
) -> None:
    """The model server generates one reply at a time: had the abandoned answer gone on to its
    200 tokens, the next request would wait for it. It waits only for its own few tokens."""
    question = {"question": "Count from 1 to 300, separated by commas.", "kb": "demo"}
    quick = {"model": "smollm2", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 4}
    with _serving(
        tmp_path / "data", embedder, model_server[0], llm_timeout_s=120, answer_max_tokens=200
    ) as url:
        whole, took_whole = _timed("POST", f"{url}/v1/query", json=question)
        assert whole.status_code == 200 and took_whole > 3, took_whole  # a long answer: seconds
        with httpx.stream("POST", f"{url}/v1/query", json={**question, "stream": True}, timeout=120) as reply:
            assert next(line for line in reply.iter_lines() if line.startswith("event: token"))
        # hung up after the first token
        answered, took_next = _timed("POST", f"{model_server[0]}/chat/completions", json=quick)
    assert answered.status_code == 200 and took_next < took_whole / 2, (took_next, took_whole)
