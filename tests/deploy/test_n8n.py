"""deploy/n8n workflows in the real n8n (2.41, from a cached npm install) against a running
`rag serve` with the packaged model: each is imported with `n8n import:workflow`, published,
and driven through its webhook."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fetch_sql_model import model_path as fetched_sql_model
from tests.server_envs import NODE_BIN, EnvUnavailable, n8n_home
from tests.servers import free_port, running_server

pytestmark = [pytest.mark.n8n, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "deploy" / "n8n"
RAG = str(Path(sys.executable).parent / "rag")


@dataclass
class N8n:
    url: str
    rag_url: str
    #: the OpenAI-compatible model server the routing workflow asks, when the SQL-capable
    #: evaluation model is here (SmolLM2 does not answer with a JSON decision)
    llm_url: str | None


def _n8n_env(home: Path, data: Path, port: int, rag_url: str, llm_url: str | None) -> dict[str, str]:
    return {
        "PATH": f"{home / NODE_BIN}:{home / 'node_modules' / '.bin'}:{os.environ['PATH']}",
        "N8N_USER_FOLDER": str(data),
        "N8N_PORT": str(port),
        # its task runners' broker listens on 5679 unless told otherwise: a second n8n (another
        # test run on the machine) would collide with it
        "N8N_RUNNERS_BROKER_PORT": str(free_port()),
        "N8N_LISTEN_ADDRESS": "127.0.0.1",
        "N8N_DIAGNOSTICS_ENABLED": "false",
        "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_SECURE_COOKIE": "false",
        "N8N_BLOCK_ENV_ACCESS_IN_NODE": "false",  # the workflows read RAG_URL and RAG_API_KEY
        "RAG_URL": rag_url,
        **({"LLM_URL": llm_url, "LLM_MODEL": "router"} if llm_url else {}),
    }


def _n8n(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        ["n8n", *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def n8n(tmp_path_factory: pytest.TempPathFactory, model_cache: Path, smollm2: object) -> Iterator[N8n]:
    """rag serve over the sample corpus, the routing model's server (when there is one), and n8n
    with every workflow of deploy/n8n published."""
    try:
        home = n8n_home()
    except EnvUnavailable as exc:
        pytest.skip(f"n8n cannot run here: {exc}")
    root = tmp_path_factory.mktemp("n8n")
    data = root / "rag-data"
    data.mkdir()
    (data / "models").symlink_to(model_cache)
    rag_env = {**os.environ, "RAG_DATA_DIR": str(data), "RAG_EXTRACTOR": "heuristic"}
    ingested = subprocess.run(
        [RAG, "ingest", "docs/samples", "--kb", "demo"],
        env=rag_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ingested.returncode == 0, ingested.stderr
    rag_port, n8n_port, llm_port = free_port(), free_port(), free_port()
    serve = [RAG, "serve", "--port", str(rag_port)]
    with contextlib.ExitStack() as running:
        rag_url = f"http://127.0.0.1:{rag_port}"
        running.enter_context(
            running_server(
                serve,
                {"RAG_DATA_DIR": str(data), "RAG_UPLOAD_SYNC_MB": "0"},
                f"{rag_url}/v1",
                root / "rag.log",
                120,
            )
        )
        router = Path(os.environ.get("RAG_TEST_SQL_MODEL") or fetched_sql_model())
        llm_url = None
        if router.is_file():
            command = [
                RAG,
                "models",
                "serve",
                "--model",
                str(router),
                "--name",
                "router",
                "--port",
                str(llm_port),
            ]
            llm_url = running.enter_context(
                running_server(
                    command,
                    {"RAG_DATA_DIR": str(data)},
                    f"http://127.0.0.1:{llm_port}/v1",
                    root / "llm.log",
                    300,
                )
            )
        env = _n8n_env(home, root / "n8n-home", n8n_port, rag_url, llm_url)
        # the agent's chat model reads its server from an OpenAI credential, as a user would set it up
        credential = {
            "id": "ragLocalModel",
            "name": "Local model (OpenAI-compatible)",
            "type": "openAiApi",
            "data": {"apiKey": "none", "url": llm_url or f"http://127.0.0.1:{free_port()}/v1"},
        }
        (root / "credentials.json").write_text(json.dumps([credential]))
        _n8n(env, "import:credentials", f"--input={root / 'credentials.json'}")
        for workflow in sorted(WORKFLOWS.glob("*.json")):
            _n8n(env, "import:workflow", f"--input={workflow}")
            _n8n(env, "publish:workflow", f"--id={json.loads(workflow.read_text())['id']}")
        url = f"http://127.0.0.1:{n8n_port}"
        process = subprocess.Popen(
            ["n8n", "start"],
            env={**os.environ, **env},
            stdout=(root / "n8n.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield N8n(url, rag_url, llm_url)
        finally:
            os.killpg(process.pid, 15)
            process.wait(timeout=60)


def webhook(
    n8n: N8n,
    path: str,
    body: dict[str, object],
    timeout_s: float = 180,
    statuses: tuple[int, ...] = (200,),
    **upload: Any,
) -> httpx.Response:
    """POST (JSON, or a form with `files`) until the webhook answers with JSON and one of
    `statuses`: n8n answers 404 for a while after it starts, and a webhook can answer before its
    workflow's nodes are ready; the last answer is in the failure. Each request may read for all
    the time left: a request n8n took is running its workflow, and asking again after a read
    timeout would start a second run beside the first (on two cores, the agent's model then takes
    twice as long for both)."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while (left := deadline - time.monotonic()) > 0:
        try:
            sent = {"data": body, **upload} if upload else {"json": body}
            timeout = httpx.Timeout(left, connect=10)
            response = httpx.post(f"{n8n.url}/webhook/{path}", timeout=timeout, **sent)
            last = f"HTTP {response.status_code}: {response.text[:300]}"
            if response.status_code in statuses and response.headers.get("content-type", "").startswith(
                "application/json"
            ):
                return response
        except httpx.ReadTimeout:
            last = f"no reply within the {timeout_s:.0f} s allowed"
        except httpx.TransportError as exc:
            last = type(exc).__name__
        time.sleep(1)
    raise AssertionError(f"webhook {path} never answered with JSON; last: {last}")


def test_ask_the_knowledge_base_answers_with_sources(n8n: N8n) -> None:
    response = webhook(n8n, "rag-ask", {"question": "When was Northwind Robotics founded?", "kb": "demo"})
    reply = response.json()
    assert "2014" in reply["answer"] and reply["sources_failed"] == []
    assert any(Path(source["source"]).name == "handbook.md" for source in reply["sources"])


def test_the_local_model_decides_which_branch_runs_and_says_why(n8n: N8n) -> None:
    if n8n.llm_url is None:
        pytest.skip("no SQL-capable evaluation model to route with: run `python tests/fetch_sql_model.py`")
    requests = {
        "knowledge": "When was Northwind Robotics founded?",
        "person": "Please cancel my order and call me back tomorrow.",
    }
    replies = {
        want: webhook(n8n, "rag-route", {"request": text, "kb": "demo"}).json()
        for want, text in requests.items()
    }
    for reply in replies.values():
        assert reply["branch"] in {"knowledge", "figure", "person"} and reply["reason"].strip()
        if reply["branch"] == "person":
            assert reply["ticket"] and reply["answer"] is None  # recorded, not answered
        else:
            assert reply["answer"] and "sources" in reply
    assert replies["knowledge"]["branch"] == "knowledge" and "2014" in replies["knowledge"]["answer"]
    assert replies["person"]["branch"] == "person"


def test_ingest_uploads_a_file_and_reports_its_state(n8n: N8n) -> None:
    """The service here queues every upload (RAG_UPLOAD_SYNC_MB=0), so the workflow has to wait."""
    note = ("zephyr.md", b"# Zephyr\n\nThe Zephyr project started in 2021 in Lisbon.\n", "text/markdown")
    reply = webhook(n8n, "rag-ingest", {"kb": "demo"}, files={"file": note}).json()
    assert reply["kb"] == "demo" and len(reply["documents"]) == 1
    document = reply["documents"][0]
    assert document["status"] == "done" and document["chunks"] >= 1 and document["error"] is None
    stored = httpx.get(f"{n8n.rag_url}/v1/documents/{document['id']}", timeout=30).json()
    assert stored["status"] == "done" and Path(stored["source"]).name == "zephyr.md"


def _requests_served(rag_url: str, route: str) -> int:
    """How many requests the service answered on `route`, from its Prometheus metrics."""
    metrics = httpx.get(f"{rag_url}/metrics", timeout=30).text
    pattern = re.compile(
        rf'^rag_http_requests_total{{[^}}]*route="{re.escape(route)}"[^}}]*}} ([0-9.]+)$', re.M
    )
    return int(sum(float(count) for count in pattern.findall(metrics)))


def test_the_agent_calls_the_service_as_its_tool(n8n: N8n) -> None:
    """n8n's AI Agent with the local model: the model asks for the service's tools, n8n calls
    `/v1/query` or `/v1/retrieve`, and the results go back to the model. Qwen2.5-Coder-0.5B does not
    answer from the results: it writes more calls (seen: three tool runs, then a call cut off at the
    token limit as its final text) or runs into the agent's iteration limit, when the workflow
    answers 502 with the reason. Either way the service's metrics show the calls, and the steps the
    answer lists hold the service's reply."""
    if n8n.llm_url is None:
        pytest.skip("no tool-calling model to drive the agent: run `python tests/fetch_sql_model.py`")
    before = _requests_served(n8n.rag_url, "/v1/query") + _requests_served(n8n.rag_url, "/v1/retrieve")
    question = {"question": "When was Northwind Robotics founded?", "kb": "demo"}
    # seen: four model turns of 70-150 s each on two busy cores (the prompt grows with each tool result)
    reply = webhook(n8n, "rag-agent", question, timeout_s=900, statuses=(200, 502)).json()
    after = _requests_served(n8n.rag_url, "/v1/query") + _requests_served(n8n.rag_url, "/v1/retrieve")
    assert after > before, reply  # the model's tool call reached the service through n8n
    if reply["error"] is None:
        assert reply["steps"] and any("2014" in step["result"] for step in reply["steps"])
        assert reply["answer"].strip()
    else:
        assert "iterations" in reply["error"].lower()
