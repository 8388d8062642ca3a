"""Start a model server as a real subprocess, wait until it lists its models, stop it after."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from rag.generate.weights import converted_folder
from tests.secrets_in_logs import SESSION

if TYPE_CHECKING:
    from rag.generate.local import LocalChatModel


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(
    command: list[str], env: dict[str, str], url: str, log: Path, timeout_s: float
) -> Iterator[str]:
    """Run `command` until `GET {url}/models` answers; yield `url`; stop the whole process group.

    The server's output goes to `log`, quoted in the failure when it never comes up, and read
    for the session's secrets at its end (tests/secrets_in_logs.py)."""
    SESSION.log_file(log, f"the log of {Path(command[0]).name}")
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{command[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{command[0]} did not answer within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def llama_cpp_env(python: str, gguf: Path, name: str, port: int, **extra: str) -> dict[str, str]:
    """The variables deploy/llamacpp/launch.sh reads for its xllamacpp profile: `gguf` served as
    `name` on 127.0.0.1:`port` with one thread (the machine may be shared), plus `extra`."""
    return {
        "LLAMACPP_PYTHON": python,
        "LLAMACPP_MODEL": str(gguf),
        "LLAMACPP_MODEL_NAME": name,
        "LLAMACPP_HOST": "127.0.0.1",
        "LLAMACPP_PORT": str(port),
        "LLAMACPP_THREADS": "1",
        "LLAMACPP_PROFILE": "xllamacpp",
        **extra,
    }


def vllm_cpu_env(python: Path, folder: Path, name: str, port: int, **extra: str) -> dict[str, str]:
    """The variables deploy/vllm/launch.sh reads for its cpu profile: the Transformers `folder`
    served as `name` on 127.0.0.1:`port`, plus `extra`."""
    return {
        "VLLM_PYTHON": str(python),
        "VLLM_MODEL": str(folder),
        "VLLM_SERVED_MODEL_NAME": name,
        "VLLM_HOST": "127.0.0.1",
        "VLLM_PORT": str(port),
        "VLLM_PROFILE": "cpu",
        **extra,
    }


def hf_folder(smollm2: LocalChatModel, model_cache: Path) -> Path:
    """The packaged GGUF de-quantized to a Transformers folder (what vLLM and PEFT load), made once."""
    assert smollm2.context_length > 0  # loading saves the converted copy into the cache
    folder = converted_folder(smollm2.source, model_cache)
    assert (folder / "config.json").is_file()
    return folder
