"""The `rag` command as a user runs it: exit codes, JSON shapes, masked secrets, clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rag.cli.app import app
from rag.generate.local import LocalChatModel
from rag.stores.lock import DataDirLock
from tests.corpus import write_bad_files
from tests.rag.generate.openai_server import API_KEY, SERVED, ChatServer

runner = CliRunner()


def rag(data_dir: Path, *args: str, **env: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"RAG_DATA_DIR": str(data_dir), "COLUMNS": "250", **env})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# Team\n\nGrace Hopper works at Remington Rand in Philadelphia.\n")
    (folder / "b.csv").write_text("city,people\nOslo,12\nLima,30\n")
    (folder / ".hidden.txt").write_text("never ingested")
    (folder / "skip.bin").write_bytes(b"\x00not a supported format")
    return folder


@pytest.mark.fast
def test_help_lists_the_commands_then_the_groups_in_their_order() -> None:
    """Each command lives in its group's module; rag.cli.app registers them in the order help shows."""
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    section = result.stdout.split("Commands")[1].splitlines()[1:]
    # a name starts a row; a help text that runs over more lines leaves the name column blank
    listed = [line.split()[1] for line in section if line.startswith("│ ") and line[2] != " "]
    commands = ["eval", "ingest", "status", "retrieve", "ask", "chat", "config", "doctor", "serve", "worker"]
    assert listed == [*commands, "kb", "docs", "keys", "models", "finetune", "jobs"]


def test_ingest_then_status_as_json(tmp_path: Path, docs: Path) -> None:
    code, out, err = rag(tmp_path / "data", "ingest", str(docs), "--kb", "team", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["new"], summary["failed"], summary["tables"]) == (2, 0, 1)
    assert summary["chunks"] == summary["vectors"] > 0
    for key in ("changed", "unchanged", "deleted", "entities", "relations", "seconds"):
        assert key in summary

    code, out, _ = rag(tmp_path / "data", "status", "--kb", "team", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["documents"] == {"done": 2}
    assert report["chunks"] == report["vectors"] == summary["chunks"]
    assert report["tables"] == 1 and report["entities"] > 0 and report["failed"] == []

    code, out, _ = rag(tmp_path / "data", "ingest", str(docs), "--kb", "team", "--json")
    assert code == 0 and json.loads(out)["unchanged"] == 2


def test_a_failed_file_exits_1_and_is_named(tmp_path: Path, docs: Path) -> None:
    write_bad_files(docs)
    code, out, err = rag(tmp_path / "data", "ingest", str(docs), "--kb", "team")
    assert code == 1
    assert "locked.pdf" in err and "password" in err
    assert "new" in out  # the summary table is still printed
    code, out, _ = rag(tmp_path / "data", "status", "--kb", "team", "--json")
    failed = {Path(f["source"]).name for f in json.loads(out)["failed"]}
    assert failed == {"empty.txt", "corrupt.pdf", "locked.pdf", "binary.txt", "broken.json"}


def test_usage_and_configuration_errors_exit_2(tmp_path: Path) -> None:
    code, _, err = rag(tmp_path / "data", "ingest", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere" in err

    code, _, err = rag(tmp_path / "data", "status", RAG_CHUNK_SIZE="lots")
    assert code == 2 and "RAG_CHUNK_SIZE" in err

    code, _, err = rag(tmp_path / "data", "status", RAG_EMBED_MODEL="no-such-model")
    assert code == 2 and "no-such-model" in err

    # a folder that looks like a model until its weights load: one line, no traceback
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"hidden_size": 384}')
    (tmp_path / "a.txt").write_text("hello")
    code, _, err = rag(tmp_path / "data", "ingest", str(tmp_path / "a.txt"), RAG_EMBED_MODEL=str(broken))
    assert code == 2 and f"cannot load embedding model from {broken}" in " ".join(err.split())
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("setting", "url", "shown"),
    [
        ("RAG_SQL_URL", "postgresql+psycopg://rag:s3cr3t-pw@127.0.0.1:9/rag", "rag:***@127.0.0.1:9"),
        ("RAG_VECTOR_URL", "http://127.0.0.1:9/?api_key=s3cr3t-pw", "127.0.0.1:9"),
        ("RAG_GRAPH_URL", "bolt://neo4j:s3cr3t-pw@127.0.0.1:9", "127.0.0.1:9"),
    ],
)
def test_an_unreachable_store_is_named_with_secrets_masked(
    tmp_path: Path, setting: str, url: str, shown: str
) -> None:
    code, out, err = rag(tmp_path / "data", "status", **{setting: url, "RAG_STORE_TIMEOUT_S": "2"})
    assert code == 2
    assert shown in err
    assert "s3cr3t-pw" not in err + out
    assert "Traceback" not in err


def test_config_masks_secrets(tmp_path: Path) -> None:
    code, out, _ = rag(
        tmp_path / "data",
        "config",
        "--json",
        RAG_LLM_API_KEY="sk-very-secret",
        RAG_NEO4J_PASSWORD="graph-secret",
        RAG_GRAPH_URL="bolt://neo4j:inline-secret@db:7687",
    )
    assert code == 0
    shown = json.loads(out)
    assert shown["llm_api_key"] == "***" and shown["neo4j_password"] == "***"
    for secret in ("sk-very-secret", "graph-secret", "inline-secret"):
        assert secret not in out
    assert shown["graph_url"] == "bolt://neo4j:***@db:7687"
    assert shown["data_dir"] == str(tmp_path / "data")


def test_a_second_writer_is_told_who_holds_the_embedded_stores(tmp_path: Path, docs: Path) -> None:
    lock = DataDirLock(tmp_path / "data")
    lock.acquire()
    try:
        code, _, err = rag(tmp_path / "data", "ingest", str(docs))
    finally:
        lock.release()
    assert code == 2
    assert f"process {os.getpid()}" in err


def test_knowledge_base_and_document_commands(tmp_path: Path, docs: Path) -> None:
    data = tmp_path / "data"
    assert rag(data, "kb", "create", "empty", "--description", "nothing yet")[0] == 0
    assert rag(data, "ingest", str(docs), "--kb", "team")[0] == 0
    code, out, _ = rag(data, "kb", "list", "--json")
    assert {row["name"]: row["documents"] for row in json.loads(out)} == {"empty": 0, "team": 2}

    code, out, _ = rag(data, "docs", "delete", str(docs / "a.md"), "--kb", "team")
    assert code == 0 and "deleted 1" in out
    code, out, _ = rag(data, "docs", "list", "--kb", "team", "--json")
    assert [Path(row["source"]).name for row in json.loads(out)] == ["b.csv"]
    code, _, err = rag(data, "docs", "delete", "no-such-document")
    assert code == 2 and "no-such-document" in err

    assert rag(data, "kb", "delete", "team", "--yes")[0] == 0
    code, out, _ = rag(data, "status", "--json")
    assert [kb["kb"] for kb in json.loads(out)["knowledge_bases"]] == ["empty"]


def test_doctor_reports_each_part_and_a_fix(tmp_path: Path) -> None:
    code, out, _ = rag(tmp_path / "data", "doctor")
    assert code == 0
    # without RAG_LLM_URL, the in-process model's weights are checked ("chat model")
    for part in ("embedding model", "relational store", "vector store", "graph store", "chat model"):
        assert part in out
    code, out, _ = rag(tmp_path / "data", "doctor", RAG_LLM_URL="http://127.0.0.1:9/v1")
    assert code == 2 and "RAG_LLM_URL" in out


def test_a_missing_spacy_pipeline_fails_doctor_and_stops_ingest_naming_the_setting(
    tmp_path: Path, docs: Path
) -> None:
    missing = {"RAG_EXTRACTOR": "spacy", "RAG_SPACY_MODEL": "xx_no_such_pipeline"}
    code, out, _ = rag(tmp_path / "data", "doctor", "--json", **missing)
    check = next(c for c in json.loads(out) if c["check"] == "entity extractor")
    assert code == 2 and not check["ok"] and "pip install" in check["detail"]
    code, _, err = rag(tmp_path / "data", "ingest", str(docs), "--kb", "team", **missing)
    assert code == 2 and "pip install" in err and "Traceback" not in err


def test_an_unreachable_model_server_stops_ingest_and_leaves_documents_to_resume(
    tmp_path: Path, docs: Path
) -> None:
    down = {"RAG_LLM_URL": "http://127.0.0.1:9/v1", "RAG_LLM_MODEL": "m", "RAG_LLM_API_KEY": "sk-hidden"}
    code, out, err = rag(tmp_path / "data", "ingest", str(docs), "--kb", "team", **down)
    assert code == 2 and "127.0.0.1:9" in err and "sk-hidden" not in err + out
    code, out, _ = rag(tmp_path / "data", "status", "--kb", "team", "--json")
    assert json.loads(out)["documents"] == {"stored": 2}

    code, out, err = rag(tmp_path / "data", "ingest", str(docs), "--kb", "team", "--json")
    assert code == 0, err
    assert json.loads(out)["resumed"] == 2
    code, out, _ = rag(tmp_path / "data", "status", "--kb", "team", "--json")
    report = json.loads(out)
    assert report["documents"] == {"done": 2} and report["vectors"] == report["chunks"]


def test_doctor_checks_the_served_model_names_and_warns_about_ollamas_context(
    tmp_path: Path, smollm2: LocalChatModel
) -> None:
    def model_check(url: str, model: str, key: str = API_KEY) -> tuple[int, dict[str, Any]]:
        code, out, _ = rag(
            tmp_path / "data", "doctor", "--json", RAG_LLM_URL=url, RAG_LLM_MODEL=model, RAG_LLM_API_KEY=key
        )
        return code, next(c for c in json.loads(out) if c["check"] == "model server")

    with ChatServer(smollm2).running() as server:
        code, check = model_check(server.url, "qwen3-8b")
        assert code == 2 and not check["ok"]
        assert "not 'qwen3-8b'" in check["detail"] and "RAG_LLM_MODEL to one of them" in check["detail"]
        assert SERVED in check["detail"]
        code, check = model_check(server.url, SERVED)
        assert code == 0 and check["ok"] and "OLLAMA_CONTEXT_LENGTH" not in check["detail"]
        code, check = model_check(server.url, SERVED, key="sk-wrong")
        assert code == 2 and "HTTP 401" in check["detail"] and "RAG_LLM_API_KEY" in check["detail"]
        assert "sk-wrong" not in check["detail"]
    with ChatServer(smollm2, owned_by="library").running() as ollama:
        code, check = model_check(ollama.url, SERVED)
        assert code == 0 and check["ok"] and "OLLAMA_CONTEXT_LENGTH" in check["detail"]


@pytest.mark.fast
def test_rag_serve_records_the_address_a_local_command_reaches() -> None:
    """A wildcard address through the loopback of its family; port 0 is known only once bound."""
    from rag.cli.serve import local_url

    assert local_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert local_url("::", 8000) == "http://[::1]:8000"
    assert local_url("127.0.0.1", 9) == "http://127.0.0.1:9"
    assert local_url("fe80::1", 80) == "http://[fe80::1]:80"
    assert local_url("127.0.0.1", 0) is None
