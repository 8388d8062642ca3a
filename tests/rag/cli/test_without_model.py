"""`rag retrieve` needs no chat model, `rag ask` names the missing one, `rag doctor` reports it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.rag.cli.test_cli import docs, rag  # noqa: F401 (docs is a fixture)


def test_retrieve_works_and_ask_and_doctor_name_the_missing_model(tmp_path: Path, docs: Path) -> None:  # noqa: F811
    data, missing = tmp_path / "data", str(tmp_path / "gone.gguf")
    code, _, err = rag(data, "ingest", str(docs), "--kb", "team")
    assert code == 0, err
    code, out, err = rag(
        data, "retrieve", "Where does Grace Hopper work?", "--kb", "team", "--json", RAG_LLM_MODEL=missing
    )
    assert code == 0, err
    found = json.loads(out)
    assert found["sources_failed"] == [] and "Remington Rand" in found["hits"][0]["text"]
    code, _, err = rag(data, "ask", "Where does Grace Hopper work?", "--kb", "team", RAG_LLM_MODEL=missing)
    assert code == 2 and "is not a local model" in err and missing in " ".join(err.split())
    code, out, _ = rag(data, "doctor", "--json", RAG_LLM_MODEL=missing)
    [check] = [c for c in json.loads(out) if c["check"] == "chat model"]
    assert code == 2 and not check["ok"] and "retrieval works without it" in check["detail"]
