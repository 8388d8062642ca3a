"""Real vLLM on the CPU serving a LoRA adapter with `--enable-lora` (through deploy/vllm, as
`rag finetune deploy --server vllm` prints it), and `rag ask` answering through the adapter's
served name. Marked `vllm`: its environment is built once into a cache (tests/server_envs.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rag.generate.client import ChatClient
from tests.rag.finetune.conftest import ADAPTER_NAME
from tests.server_envs import EnvUnavailable, vllm_python
from tests.servers import free_port, running_server, vllm_cpu_env

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
REPO = DEPLOY.parent
PROMPT = [{"role": "user", "content": "Name three colours."}]


def test_vllm_serves_the_adapter_and_rag_ask_answers_through_it(
    tmp_path: Path, base_folder: Path, adapter_dir: Path, model_cache: Path
) -> None:
    try:
        python = vllm_python()
    except EnvUnavailable as exc:
        pytest.skip(f"vLLM cannot run here: {exc}")
    port = free_port()
    env = vllm_cpu_env(
        python,
        base_folder,
        "smollm2",
        port,
        VLLM_LORA_MODULES=f"{ADAPTER_NAME}={adapter_dir}",
        VLLM_MAX_LORA_RANK="8",
    )
    command = ["bash", str(DEPLOY / "vllm" / "launch.sh")]
    with running_server(command, env, f"http://127.0.0.1:{port}/v1", tmp_path / "vllm.log", 600) as url:
        served = {card["id"]: card for card in httpx.get(f"{url}/models", timeout=10).json()["data"]}
        assert set(served) == {"smollm2", ADAPTER_NAME}
        assert served[ADAPTER_NAME].get("parent") == "smollm2"
        replies = {}
        for name in served:
            client = ChatClient(url, name, timeout=120)
            replies[name] = client.complete(PROMPT, max_tokens=12)
            client.close()
        assert replies[ADAPTER_NAME] != replies["smollm2"], "the adapter changes what the model says"

        data = tmp_path / "data"
        data.mkdir()
        (data / "models").symlink_to(model_cache)
        rag_env = {
            **os.environ,
            "RAG_DATA_DIR": str(data),
            "RAG_LLM_URL": url,
            "RAG_LLM_MODEL": ADAPTER_NAME,
            "RAG_EXTRACTOR": "heuristic",
        }

        def rag(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "rag", *args],
                cwd=REPO,
                env=rag_env,
                capture_output=True,
                text=True,
                timeout=600,
            )

        ingested = rag("ingest", "docs/samples", "--kb", "demo")
        assert ingested.returncode == 0, ingested.stderr
        asked = rag("ask", "When was Northwind Robotics founded?", "--kb", "demo", "--json")
        assert asked.returncode == 0, asked.stderr
        answer = json.loads(asked.stdout)
        assert answer["answer"].strip() and answer["citations"] and not answer["sources_failed"]
        log = (tmp_path / "vllm.log").read_text()
        assert ADAPTER_NAME in log  # vLLM logged the request for the adapter's name
