"""Model servers really serving the packaged SmolLM2, and `rag models check|bench` and `rag ask`
through them: the minimal Transformers server (started by deploy/transformers/launch.sh), vLLM on
the CPU (marked `vllm`; its environment is built once into a cache), and llama.cpp's own server from
the prebuilt xllamacpp wheel (its environment built once into the cache, in seconds: tests/server_envs.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.generate.local import LocalChatModel
from tests.server_envs import EnvUnavailable, vllm_python, xllamacpp_python
from tests.servers import free_port, hf_folder, llama_cpp_env, running_server, vllm_cpu_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RAG = str(Path(sys.executable).parent / "rag")
QUESTION = "When was Northwind Robotics founded?"


def rag(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RAG, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def checked(url: str, model: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    result = rag("models", "check", "--url", url, "--model", model, "--json", env=env or {}, timeout=300)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def assert_usable(url: str, model: str, context_length: int) -> None:
    code, report = checked(url, model)
    assert code == 0 and report["ok"], report["findings"]
    assert report["served"] == [model] and report["context_length"] == context_length
    assert report["ttft_s"] > 0 and report["tokens_per_s"] > 0


def assert_benchmarked(url: str, model: str, tmp_path: Path) -> None:
    plot = tmp_path / "bench.png"
    result = rag(
        "models",
        "bench",
        "--url",
        url,
        "--model",
        model,
        "--concurrency",
        "1,2",
        "--requests",
        "2",
        "--max-tokens",
        "8",
        "--plot",
        str(plot),
        "--json",
        env={},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    levels = json.loads(result.stdout)["levels"]
    assert [level["concurrency"] for level in levels] == [1, 2]
    for level in levels:
        assert level["errors"] == 0 and level["requests"] == 2, level
        assert level["total_tokens_per_s"] > 0 and level["ttft_p50_s"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def assert_answers(url: str, model: str, data: Path, settings: dict[str, str] | None = None) -> None:
    """`rag ingest` the sample corpus, then `rag ask` with the server as the model (entities by the
    heuristics: asking a 135M model on two cores for every chunk's entities would take minutes)."""
    env = {
        "RAG_DATA_DIR": str(data),
        "RAG_LLM_URL": url,
        "RAG_LLM_MODEL": model,
        "RAG_EXTRACTOR": "heuristic",
        **(settings or {}),
    }
    ingested = rag("ingest", "docs/samples", "--kb", "demo", env=env)
    assert ingested.returncode == 0, ingested.stderr
    asked = rag("ask", QUESTION, "--kb", "demo", "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert "2014" in answer["answer"] and answer["citations"] and not answer["sources_failed"]


# ------------------------------------------------------------------ the minimal Transformers server
@pytest.fixture(scope="module")
def transformers_server(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, smollm2: LocalChatModel
) -> Iterator[str]:
    """deploy/transformers/launch.sh serving the packaged model as `smollm2`."""
    data = tmp_path_factory.mktemp("transformers-server")
    (data / "models").symlink_to(model_cache)  # the de-quantized copy the other tests made
    port = free_port()
    env = {"RAG_BIN": RAG, "RAG_DATA_DIR": str(data), "TRANSFORMERS_PORT": str(port)}
    command = ["bash", str(DEPLOY / "transformers" / "launch.sh")]
    with running_server(command, env, f"http://127.0.0.1:{port}/v1", data / "server.log", 300) as url:
        yield url


def test_rag_models_check_passes_against_the_transformers_server(transformers_server: str) -> None:
    assert_usable(transformers_server, "smollm2", context_length=8192)


def test_rag_models_bench_measures_the_transformers_server(transformers_server: str, tmp_path: Path) -> None:
    assert_benchmarked(transformers_server, "smollm2", tmp_path)


def test_rag_ask_answers_through_the_transformers_server(transformers_server: str, tmp_path: Path) -> None:
    assert_answers(transformers_server, "smollm2", tmp_path / "data")


def test_check_names_the_fix_for_a_model_the_server_does_not_serve(transformers_server: str) -> None:
    code, report = checked(transformers_server, "qwen3-1.7b")
    assert code == 1 and not report["ok"] and report["served"] == ["smollm2"]
    failed = [f for f in report["findings"] if not f["ok"]]
    assert "'qwen3-1.7b' is not among them" in failed[0]["what"]
    assert "RAG_LLM_MODEL" in failed[0]["fix"] and "--served-model-name" in failed[0]["fix"]


def test_check_flags_a_window_shorter_than_the_prompt_budget(transformers_server: str) -> None:
    code, report = checked(transformers_server, "smollm2", env={"RAG_CONTEXT_TOKENS": "9000"})
    assert code == 1 and report["needed_context"] > 8192
    failed = [f for f in report["findings"] if not f["ok"]]
    assert len(failed) == 1 and "context window 8192 tokens <" in failed[0]["what"]
    assert "--max-model-len" in failed[0]["fix"]


def test_check_explains_an_unreachable_server() -> None:
    code, report = checked(f"http://127.0.0.1:{free_port()}/v1", "smollm2")
    assert code == 1 and "start the model server" in report["findings"][0]["fix"]


def test_the_server_refuses_a_model_it_does_not_serve_in_openais_error_shape(
    transformers_server: str,
) -> None:
    import httpx

    response = httpx.post(
        f"{transformers_server}/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_the_openai_sdk_streams_from_the_transformers_server(transformers_server: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=transformers_server, api_key="unused", timeout=120)
    stream = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= 8


def test_a_client_that_hangs_up_mid_stream_does_not_block_the_next(transformers_server: str) -> None:
    """The reader that went away must not keep the model: the next request is answered."""
    import httpx

    body = {"model": "smollm2", "messages": [{"role": "user", "content": "Count to fifty."}], "stream": True}
    with httpx.stream("POST", f"{transformers_server}/chat/completions", json=body, timeout=120) as reply:
        assert next(
            line for line in reply.iter_lines() if '"content": "' in line and '"content": ""' not in line
        )
    # hung up after the first token; the abandoned generation ends at its token limit at most
    answered = httpx.post(
        f"{transformers_server}/chat/completions",
        json={"model": "smollm2", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8},
        timeout=120,
    )
    assert answered.status_code == 200 and answered.json()["choices"][0]["message"]["content"].strip()


# ---------------------------------------------------------------------------------- vLLM on the CPU
@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_serves_the_packaged_model_through_deploy_vllm(
    tmp_path: Path, model_cache: Path, smollm2: LocalChatModel
) -> None:
    try:
        python = vllm_python()
    except EnvUnavailable as exc:
        pytest.skip(f"vLLM cannot run here: {exc}")
    port = free_port()
    env = vllm_cpu_env(python, hf_folder(smollm2, model_cache), "smollm2", port)
    command = ["bash", str(DEPLOY / "vllm" / "launch.sh")]
    with running_server(command, env, f"http://127.0.0.1:{port}/v1", tmp_path / "vllm.log", 600) as url:
        assert_usable(url, "smollm2", context_length=4096)  # the cpu profile's --max-model-len
        assert_benchmarked(url, "smollm2", tmp_path)
        assert_answers(url, "smollm2", tmp_path / "data")


# ------------------------------------------------------------------------------- llama.cpp's server
def test_llama_cpp_server_serves_the_packaged_gguf(tmp_path: Path, smollm2: LocalChatModel) -> None:
    """deploy/llamacpp's xllamacpp profile serving the Q4_1 GGUF itself: check, bench and ask."""
    try:
        python = str(xllamacpp_python())
    except EnvUnavailable as exc:
        pytest.skip(f"llama.cpp's server cannot run here: {exc}")
    port = free_port()
    env = llama_cpp_env(python, smollm2.source.path, "smollm2", port)
    command = ["bash", str(DEPLOY / "llamacpp" / "launch.sh")]
    with running_server(command, env, f"http://127.0.0.1:{port}/v1", tmp_path / "llamacpp.log", 300) as url:
        assert_usable(url, "smollm2", context_length=8192)  # llamacpp.env's LLAMACPP_CTX_SIZE
        assert_benchmarked(url, "smollm2", tmp_path)
        assert_answers(url, "smollm2", tmp_path / "data")


# ------------------------------------------------------------------------------ vLLM on a real GPU
@pytest.mark.gpu
@pytest.mark.slow
def test_vllm_small_gpu_profile_serves_the_whole_rag_path(
    tmp_path: Path, model_cache: Path, smollm2: LocalChatModel
) -> None:
    """deploy/vllm's small-gpu profile (the seed's flags) on an NVIDIA GPU, with the prompt budget
    its README gives for a 2048-token window; then check, bench and ask through it."""
    python = os.environ.get("RAG_TEST_VLLM_GPU_PYTHON", "")
    if not python:
        pytest.skip(
            "no GPU vLLM: on a machine with an NVIDIA GPU, pip install vllm into a venv and set "
            "RAG_TEST_VLLM_GPU_PYTHON to its python (deploy/vllm/README.md)"
        )
    port = free_port()
    env = {
        "VLLM_MODEL": str(hf_folder(smollm2, model_cache)),
        "VLLM_SERVED_MODEL_NAME": "smollm2",
        "VLLM_HOST": "127.0.0.1",
        "VLLM_PORT": str(port),
        "PATH": f"{Path(python).parent}:{os.environ['PATH']}",  # its `vllm` entry point
    }
    budget = {
        "RAG_CONTEXT_TOKENS": "800",
        "RAG_TABLE_TOKENS": "300",
        "RAG_FACTS_TOKENS": "150",
        "RAG_ANSWER_MAX_TOKENS": "384",
    }
    command = ["bash", str(DEPLOY / "vllm" / "launch.sh"), "--profile", "small-gpu"]
    with running_server(command, env, f"http://127.0.0.1:{port}/v1", tmp_path / "vllm.log", 900) as url:
        code, report = checked(url, "smollm2", env=budget)
        assert code == 0 and report["context_length"] == 2048, report["findings"]
        assert_benchmarked(url, "smollm2", tmp_path)
        assert_answers(url, "smollm2", tmp_path / "data", budget)


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "ask_knowledge_base",
            "description": "Answer a question from the company knowledge base, with sources.",
            "parameters": {
                "type": "object",
                "properties": {"question": {"type": "string", "description": "the question"}},
                "required": ["question"],
            },
        },
    }
]


def test_the_model_server_answers_tools_with_openai_tool_calls(sql_model: LocalChatModel) -> None:
    """An agent's round trip through `rag models serve` with a tool-trained model (Qwen2.5): the
    offered tool comes back as a call, whole or streamed, and the tool's result is accepted."""
    from fastapi.testclient import TestClient
    from openai import OpenAI

    from api.model_server import create_model_app

    with TestClient(create_model_app(sql_model, "qwen")) as http:
        client = OpenAI(base_url="http://testserver/v1", api_key="none", http_client=http)
        asked = [
            {"role": "system", "content": "Look answers up with the tools; never answer from memory."},
            {"role": "user", "content": "When was Northwind Robotics founded?"},
        ]
        reply = client.chat.completions.create(model="qwen", messages=asked, tools=TOOLS, max_tokens=96)
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
        call = choice.message.tool_calls[0]
        assert call.function.name == "ask_knowledge_base"
        assert "Northwind" in json.loads(call.function.arguments)["question"]

        forbidden = client.chat.completions.create(
            model="qwen", messages=asked, tools=TOOLS, tool_choice="none", max_tokens=48
        )
        assert (
            not forbidden.choices[0].message.tool_calls and forbidden.choices[0].finish_reason != "tool_calls"
        )

        streamed = client.chat.completions.create(
            model="qwen", messages=asked, tools=TOOLS, max_tokens=96, stream=True
        )
        chunks = list(streamed)
        deltas = [
            tool for chunk in chunks if chunk.choices for tool in chunk.choices[0].delta.tool_calls or []
        ]
        assert [delta.function.name for delta in deltas] == ["ask_knowledge_base"]
        assert chunks[-1].choices[0].finish_reason == "tool_calls"

        answered = [
            *asked,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {
                "role": "tool",
                "tool_call_id": call.id,
                "content": "Northwind Robotics was founded in 2014 [1].",
            },
        ]
        follow_up = client.chat.completions.create(
            model="qwen", messages=answered, tools=TOOLS, max_tokens=64
        )
        prompt_tokens = follow_up.usage.prompt_tokens if follow_up.usage else 0
        assert prompt_tokens > (
            reply.usage.prompt_tokens if reply.usage else 0
        )  # the result reached the prompt
