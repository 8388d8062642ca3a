"""Kill `rag ingest` mid-run with SIGKILL, run it again: every store matches a clean run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.corpus import write_corpus

PEOPLE = [
    "Ada Lovelace",
    "Alan Turing",
    "Grace Hopper",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Claude Shannon",
]
PLACES = ["London", "Manchester", "Arlington", "Austin", "Cambridge", "Princeton"]


def _write_many(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for n in range(count):
        person, place = PEOPLE[n % len(PEOPLE)], PLACES[(n * 5) % len(PLACES)]
        body = " ".join(
            f"In year {1900 + i} {person} works at Institute {n} in {place}, writing report {i} of {n}."
            for i in range(40)
        )
        (folder / f"doc{n:03}.md").write_text(f"# Document {n}\n\n{body}\n")


def _rag(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], env=env, capture_output=True, text=True, timeout=600
    )


def _done_count(database: Path) -> int:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM documents WHERE status = 'done'").fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet, or mid-migration


def _status(data_dir: Path) -> dict[str, object]:
    result = _rag(data_dir, "status", "--kb", "k", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    report.pop("failed")
    return report


@pytest.mark.slow
def test_rerun_after_sigkill_converges_to_a_clean_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write_many(corpus, 60)
    write_corpus(corpus / "formats")

    crashed = tmp_path / "crashed"
    env = {**os.environ, "RAG_DATA_DIR": str(crashed)}
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "ingest", str(corpus), "--kb", "k"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while _done_count(crashed / "rag.sqlite3") < 5:
        assert process.poll() is None, "ingest finished before it could be killed"
        assert time.monotonic() < deadline, "ingest made no progress"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted = _status(crashed)
    assert interrupted["documents"].get("done", 0) < 71  # it really stopped part-way

    rerun = _rag(crashed, "ingest", str(corpus), "--kb", "k", "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["failed"] == 0

    clean = tmp_path / "clean"
    assert _rag(clean, "ingest", str(corpus), "--kb", "k").returncode == 0
    expected = _status(clean)
    assert expected["documents"] == {"done": 71}
    assert _status(crashed) == expected
