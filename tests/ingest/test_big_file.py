"""A 50 MB text file is ingested whole, streamed: memory does not grow with the file.

The only growth allowed is the embedded vector engine's own: Qdrant edge keeps freshly
written points in an in-RAM appendable segment (measured here: ~2.6 KB per 384-dim point,
whatever the storage placement), which the index build later moves to disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

LINE = "The quarterly report lists budgets, hiring plans and delivery schedules for every team.\n"


def _ingest(path: Path, data_dir: Path) -> tuple[dict, float]:
    """`rag ingest --json` in its own process: its summary and its peak RSS in MB."""
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "rag", "ingest", str(path), "--kb", "big", "--json"]
    with tempfile.TemporaryFile("w+") as output, tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        output.seek(0)
        errors.seek(0)
        assert os.waitstatus_to_exitcode(status) == 0, errors.read()[-2000:]
        return json.loads(output.read()), usage.ru_maxrss / 1024


@pytest.mark.slow
def test_a_50_mb_text_file_is_streamed_with_flat_memory(tmp_path: Path) -> None:
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text(LINE * (5_000_000 // len(LINE)))
    big.write_text(LINE * (50_000_000 // len(LINE)))
    assert big.stat().st_size >= 49_000_000

    small_summary, small_peak = _ingest(small, tmp_path / "small-data")
    big_summary, big_peak = _ingest(big, tmp_path / "big-data")

    assert (big_summary["new"], big_summary["failed"]) == (1, 0)
    # every line is in some chunk: 10x the text gives 10x the chunks
    assert big_summary["chunks"] == pytest.approx(10 * small_summary["chunks"], rel=0.02)
    assert big_summary["vectors"] == big_summary["chunks"]
    # holding the text (45 MB more, several times that as Python objects) or every chunk of it
    # would blow well past the engine's own share
    engine_mb = 3 * (big_summary["vectors"] - small_summary["vectors"]) / 1000
    assert big_peak - small_peak < engine_mb + 40, (small_peak, big_peak, engine_mb)
