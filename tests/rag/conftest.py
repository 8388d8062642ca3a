"""Fixtures shared by the tests of more than one package of rag/."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.embed import model_info
from rag.generate.local import LocalChatModel
from tests.server_envs import EnvUnavailable, xllamacpp_python
from tests.servers import free_port, llama_cpp_env, running_server

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture(scope="session")
def cross_encoder_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real cross-encoder on disk: the packaged MiniLM with a fresh relevance head (seeded), the way
    RAG_RERANKER_MODEL names one (no trained cross-encoder ships in a package)."""
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("cross-encoder")
    path = model_info("all-MiniLM-L6-v2").path
    CrossEncoder(str(path), num_labels=1, local_files_only=True, device="cpu").save(str(folder))
    return folder


@contextlib.contextmanager
def llama_cpp_server(gguf: Path, name: str, log: Path) -> Iterator[str]:
    """deploy/llamacpp/launch.sh (xllamacpp profile) serving `gguf` as `name`; its /v1 URL.

    One thread and one slot: the machine may be shared, and one slot decodes each request alone,
    so a prompt gets the same greedy reply and log-probabilities however requests interleave."""
    try:
        python = str(xllamacpp_python())
    except EnvUnavailable as exc:
        pytest.skip(f"llama.cpp's server cannot run here: {exc}")
    port = free_port()
    env = llama_cpp_env(python, gguf, name, port, LLAMACPP_CTX_SIZE="4096")
    command = ["bash", str(DEPLOY / "llamacpp" / "launch.sh"), "--", "--parallel", "1"]
    try:
        with running_server(command, env, f"http://127.0.0.1:{port}/v1", log, 300) as url:
            yield url
    except RuntimeError as exc:  # from starting it: pytest never throws a test's error into a fixture
        pytest.skip(f"llama.cpp's server did not start: {str(exc)[:500]}")


@pytest.fixture(scope="session")
def smollm2_server(smollm2: LocalChatModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's server over the packaged SmolLM2 GGUF as `smollm2`: a real OpenAI-compatible
    server that returns `logprobs`, started once per session (seconds: no de-quantizing)."""
    log = tmp_path_factory.mktemp("llamacpp-smollm2") / "server.log"
    with llama_cpp_server(smollm2.source.path, "smollm2", log) as url:
        yield url
