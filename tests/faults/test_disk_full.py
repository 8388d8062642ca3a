"""The data folder's disk fills during an embedded ingest, on a real size-limited filesystem (a
tmpfs mounted for the test; it needs root, as CI runs).

The embedded engines map their files into memory: without a guard, `rag ingest` onto a full disk
was killed by SIGBUS (exit 135) mid-write, and so was `rag status` (qdrant-edge prepares its next
32 MB write-ahead-log segment when it opens). With the guard (`rag.stores.space`), the ingest
stops with a clear error while `RAG_MIN_FREE_MB` is left, the stores still open, and the re-run
completes once space is freed, to the counts of an ingest that never stopped. Each `rag` runs
in a process of its own, as a user runs it: a crash there fails this test, not the test session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpus import depot_notes

RAG = str(Path(sys.executable).parent / "rag")
FILES = 40
DISK_MB = 200
MIN_FREE_MB = 100  # the default


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root: run this test as root (CI does)")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}): run where root may mount"
        )
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _rag(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_DATA_DIR": str(data), "RAG_MIN_FREE_MB": str(MIN_FREE_MB), "COLUMNS": "250"}
    return subprocess.run([RAG, *args], env=env, capture_output=True, text=True, timeout=600)


def _counts(data: Path) -> dict[str, object]:
    shown = _rag(data, "status", "--kb", "kb", "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    return {key: report[key] for key in ("documents", "chunks", "vectors", "entities", "relations")}


def _free_mb(folder: Path) -> float:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize / (1 << 20)


def test_a_full_disk_stops_the_ingest_clearly_and_the_rerun_completes(
    small_disk: Path, tmp_path: Path
) -> None:
    docs = depot_notes(tmp_path / "docs", FILES)
    clean = tmp_path / "clean"
    assert _rag(clean, "ingest", str(docs), "--kb", "kb").returncode == 0

    data = small_disk / "data"
    assert _rag(data, "kb", "create", "kb").returncode == 0
    # another process has left the disk all but full: a few MB over the margin
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * int((_free_mb(small_disk) - MIN_FREE_MB - 4) * (1 << 20)))
    stopped = _rag(data, "ingest", str(docs), "--kb", "kb")
    message = " ".join(stopped.stderr.split())
    assert stopped.returncode == 2, (stopped.returncode, stopped.stderr[-2000:])  # not 135, SIGBUS
    assert message.startswith(f"error: {data}") and "MB free, under 100 MB (RAG_MIN_FREE_MB)" in message
    assert "run rag ingest again; it resumes where it stopped" in message

    assert _rag(data, "status", "--json").returncode == 0  # the stores still open
    ballast.unlink()
    again = _rag(data, "ingest", str(docs), "--kb", "kb", "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["failed"] == 0 and summary["new"] + summary["resumed"] == FILES, summary
    assert _counts(data) == _counts(clean)
