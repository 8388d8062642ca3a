"""deploy/n8n workflows in the real n8n (2.41, from a cached npm install) against a running
`rag serve` with the packaged model: each is imported with `n8n import:workflow`, published,
and driven through its webhook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

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


def _n8n_env(home: Path, data: Path, port: int, rag_url: str) -> dict[str, str]:
    return {
        "PATH": f"{home / NODE_BIN}:{home / 'node_modules' / '.bin'}:{os.environ['PATH']}",
        "N8N_USER_FOLDER": str(data),
        "N8N_PORT": str(port),
        "N8N_LISTEN_ADDRESS": "127.0.0.1",
        "N8N_DIAGNOSTICS_ENABLED": "false",
        "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_SECURE_COOKIE": "false",
        "N8N_BLOCK_ENV_ACCESS_IN_NODE": "false",  # the workflows read RAG_URL and RAG_API_KEY
        "RAG_URL": rag_url,
    }


def _n8n(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        ["n8n", *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def n8n(tmp_path_factory: pytest.TempPathFactory, model_cache: Path, smollm2: object) -> Iterator[N8n]:
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
    rag_port, n8n_port = free_port(), free_port()
    serve = [RAG, "serve", "--port", str(rag_port)]
    with running_server(
        serve, {"RAG_DATA_DIR": str(data)}, f"http://127.0.0.1:{rag_port}/v1", root / "rag.log", 120
    ):
        env = _n8n_env(home, root / "n8n-home", n8n_port, f"http://127.0.0.1:{rag_port}")
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
            yield N8n(url, f"http://127.0.0.1:{rag_port}")
        finally:
            os.killpg(process.pid, 15)
            process.wait(timeout=60)


def webhook(n8n: N8n, path: str, body: dict[str, object], timeout_s: float = 180) -> httpx.Response:
    """POST to a webhook until it answers with JSON: n8n answers 404 for a while after it starts, and
    a webhook can answer before its workflow's nodes are ready; the last answer is in the failure."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.post(f"{n8n.url}/webhook/{path}", json=body, timeout=180)
            last = f"HTTP {response.status_code}: {response.text[:300]}"
            if response.status_code == 200 and response.headers.get("content-type", "").startswith(
                "application/json"
            ):
                return response
        except httpx.TransportError as exc:
            last = type(exc).__name__
        time.sleep(1)
    raise AssertionError(f"webhook {path} never answered with JSON; last: {last}")


def test_ask_the_knowledge_base_answers_with_sources(n8n: N8n) -> None:
    response = webhook(n8n, "rag-ask", {"question": "When was Northwind Robotics founded?", "kb": "demo"})
    reply = response.json()
    assert "2014" in reply["answer"] and reply["sources_failed"] == []
    assert any(Path(source["source"]).name == "handbook.md" for source in reply["sources"])
