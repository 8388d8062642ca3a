"""While `rag serve` holds the data folder, the `rag` commands of the same user send their work to it
and print what they print without it (rag/cli/remote.py, rag/stores/server_record.py).

One real `rag serve` runs in a subprocess for the module, as in real use: it holds the lock, so a
command that opened the stores itself would stop on it. The commands run in-process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from rag.cli.app import app
from rag.generate.local import LocalChatModel
from rag.stores.server_record import record_path, running_server
from tests.builders import REPO
from tests.secrets_in_logs import SESSION
from tests.servers import free_port

pytestmark = pytest.mark.slow

ADMIN_KEY = SESSION.secret("admin-key-of-the-forwarding-tests", "the admin key") or ""
#: seconds `rag serve` may take to open the stores and load the embedding model
START_TIMEOUT_S = 180.0
QUESTION = "Where does Grace Hopper work?"
runner = CliRunner()


@dataclass
class Served:
    data: Path
    url: str
    process: subprocess.Popen[bytes]
    docs: Path

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def rag(served: Served, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"RAG_DATA_DIR": str(served.data), "COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the developer's RAG_* settings (the autouse fixture that drops
    them runs after a module's fixtures), plus `extra`."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k.startswith("RAG_TEST_")}
    return {**kept, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **extra}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, smollm2: LocalChatModel
) -> Iterator[Served]:
    """`rag serve` over a fresh data folder (keyed: an admin key exists), up and recorded."""
    data = tmp_path_factory.mktemp("forwarded") / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache, target_is_directory=True)
    docs = tmp_path_factory.mktemp("docs")
    (docs / "a.md").write_text("# Team\n\nGrace Hopper works at Remington Rand in Philadelphia.\n")
    (docs / "b.csv").write_text("city,people\nOslo,12\nLima,30\n")
    port = free_port()
    env = clean_env(
        RAG_DATA_DIR=str(data),
        RAG_ADMIN_KEY=ADMIN_KEY,
        RAG_ANSWER_MAX_TOKENS="16",
        RAG_FUSION_LEARN="false",  # the pseudo-query fit would cost each ingest seconds
    )
    log = tmp_path_factory.mktemp("logs") / "rag-serve.log"
    SESSION.log_file(log, "the log of rag serve")
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path_factory.mktemp("cwd"),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Served(data, f"http://127.0.0.1:{port}", process, docs)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _up(server):
            assert process.poll() is None, f"rag serve exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"rag serve did not come up:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield server
    finally:
        server.stop()


def _up(server: Served) -> bool:
    try:
        healthy = httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
    return healthy and record_path(server.data).exists()


@pytest.fixture(scope="module")
def first_ingest(served: Served) -> dict[str, object]:
    code, out, err = rag(served, "ingest", str(served.docs), "--kb", "team", "--json")
    assert code == 0, err
    assert f"sent to rag serve on {served.url}" in err
    return dict(json.loads(out))


def test_ingest_is_done_by_the_server_and_stays_incremental(
    served: Served, first_ingest: dict[str, object]
) -> None:
    assert (first_ingest["new"], first_ingest["failed"], first_ingest["tables"]) == (2, 0, 1)
    code, out, err = rag(served, "ingest", str(served.docs), "--kb", "team", "--json")
    assert code == 0, err
    assert json.loads(out)["unchanged"] == 2
    code, out, _ = rag(served, "ingest", str(served.docs), "--kb", "team")  # the table, as without it
    assert code == 0 and "unchanged" in out and "stored" in out
    code, _, err = rag(served, "ingest", str(served.docs / "nope"), "--kb", "team")
    assert code == 2 and "no such file or folder" in err and str(served.docs / "nope") in err


def test_status_and_retrieve_are_answered_by_the_server(
    served: Served, first_ingest: dict[str, object]
) -> None:
    code, out, err = rag(served, "status", "--kb", "team", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["documents"] == {"done": 2} and report["chunks"] == report["vectors"] > 0
    code, out, _ = rag(served, "status", "--json")
    assert [r["kb"] for r in json.loads(out)["knowledge_bases"]] == ["team"]
    code, _, err = rag(served, "status", "--kb", "nope")
    assert code == 2 and "no knowledge base named 'nope'" in err

    code, out, err = rag(served, "retrieve", QUESTION, "--kb", "team", "--json")
    assert code == 0, err
    found = json.loads(out)
    assert "Remington Rand" in found["hits"][0]["text"] and found["question"] == QUESTION
    code, out, _ = rag(served, "retrieve", QUESTION, "--kb", "team")
    assert code == 0 and "a.md" in out


def test_knowledge_bases_are_created_listed_and_deleted_through_the_server(served: Served) -> None:
    assert rag(served, "kb", "create", "scratch", "--description", "for a test")[:2] == (
        0,
        "created 'scratch'\n",
    )
    assert rag(served, "kb", "create", "scratch")[:2] == (0, "'scratch' already exists\n")
    code, out, _ = rag(served, "kb", "list", "--json")
    [row] = [row for row in json.loads(out) if row["name"] == "scratch"]
    assert row["description"] == "for a test" and row["documents"] == 0
    assert " " in row["created_at"] and "T" not in row["created_at"]  # as a local run prints it
    assert rag(served, "kb", "delete", "scratch", "--yes")[:2] == (0, "deleted 'scratch'\n")
    code, _, err = rag(served, "kb", "delete", "scratch", "--yes")
    assert code == 2 and "no knowledge base named 'scratch'" in err


def test_documents_are_listed_and_deleted_by_source_or_id_through_the_server(served: Served) -> None:
    assert rag(served, "ingest", str(served.docs), "--kb", "trash")[0] == 0
    code, out, _ = rag(served, "docs", "list", "--kb", "trash", "--json")
    rows = {Path(row["source"]).name: row for row in json.loads(out)}
    assert set(rows) == {"a.md", "b.csv"} and rows["a.md"]["status"] == "done"
    assert rag(served, "docs", "delete", str(served.docs / "b.csv"), "--kb", "trash")[:2] == (
        0,
        "deleted 1 document(s)\n",
    )
    assert rag(served, "docs", "delete", rows["a.md"]["id"])[:2] == (0, "deleted 1 document(s)\n")
    assert json.loads(rag(served, "docs", "list", "--kb", "trash", "--json")[1]) == []
    code, _, err = rag(served, "docs", "delete", rows["a.md"]["id"])
    assert code == 2 and "no document with id or source" in err
    assert json.loads(rag(served, "docs", "list", "--kb", "no-such-kb", "--json")[1]) == []


def test_ask_is_answered_by_the_server_whole_or_streamed(
    served: Served, first_ingest: dict[str, object]
) -> None:
    code, out, err = rag(served, "ask", QUESTION, "--kb", "team", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["question"] == QUESTION and shown["kb"] == "team" and "conversation_id" not in shown
    assert isinstance(shown["answer"], str) and isinstance(shown["citations"], list)

    code, out, err = rag(served, "ask", QUESTION, "--kb", "team", "--stream", "--json")
    assert code == 0, err
    *tokens, last = [json.loads(line) for line in out.splitlines()]
    assert all(set(t) == {"token"} for t in tokens) and last["question"] == QUESTION
    code, _, err = rag(served, "ask", QUESTION, "--kb", "nope")
    assert code == 2 and "no knowledge base named 'nope'" in err


def test_ask_continues_a_stored_conversation_through_the_server(
    served: Served, first_ingest: dict[str, object]
) -> None:
    """A conversation the admin key started (shared with the local credential, as with open mode)."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=served.url, headers=admin, timeout=30) as client:
        conversation = client.post("/v1/conversations", json={"kb": "team"}).json()["id"]
        code, out, err = rag(served, "ask", QUESTION, "--conversation", conversation, "--json")
        assert code == 0, err
        shown = json.loads(out)
        assert shown["conversation_id"] == conversation and shown["kb"] == "team"
        assert client.get(f"/v1/conversations/{conversation}").json()["turn_count"] == 1
        code, _, err = rag(served, "ask", QUESTION, "--conversation", conversation, "--kb", "trash")
        assert code == 2 and f"conversation {conversation!r} asks 'team', not 'trash'" in err


def test_other_commands_name_the_server_that_holds_the_data_folder(served: Served) -> None:
    code, _, err = rag(served, "keys", "list")
    assert code == 2
    assert f"rag serve on {served.url} holds this data folder" in " ".join(err.split())


def test_only_the_local_credential_may_have_the_server_read_its_disk(
    served: Served, first_ingest: dict[str, object]
) -> None:
    body = {"paths": [str(served.docs)], "kb": "team"}
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=served.url, timeout=30) as client:
        assert client.post("/v1/local/ingest", json=body).status_code == 401
        assert client.post("/v1/local/ingest", json=body, headers=admin).status_code == 403
        created = client.post("/v1/keys", json={"kbs": ["team"], "write": True}, headers=admin)
        key = SESSION.secret(created.json()["key"], "an API key") or ""
        keyed = {"Authorization": f"Bearer {key}"}
        assert client.post("/v1/local/ingest", json=body, headers=keyed).status_code == 403
        assert client.get("/v1/local/status", headers=keyed).status_code == 403
        assert client.get("/v1/local/status", headers=admin).status_code == 200
        record = running_server(served.data)
        assert record is not None  # the record's credential is registered as a secret (a SecretStr)
        local = {"Authorization": f"Bearer {record.credential.get_secret_value()}"}
        assert client.get("/v1/local/status", params={"kb": "team"}, headers=local).status_code == 200
        relative = client.post("/v1/local/ingest", json={"paths": ["docs"]}, headers=local)
        assert relative.status_code == 422 and "not absolute: docs" in relative.json()["error"]["message"]


def test_once_the_server_stops_its_record_is_gone_and_the_commands_print_the_same_alone(
    served: Served, first_ingest: dict[str, object]
) -> None:
    commands = [("status", "--json"), ("kb", "list", "--json"), ("docs", "list", "--kb", "team", "--json")]
    forwarded = [rag(served, *command) for command in commands]
    served.stop()
    assert not record_path(served.data).exists()
    for command, (code, out, err) in zip(commands, forwarded, strict=True):
        alone = rag(served, *command)
        assert alone[0] == code == 0, alone[2]
        assert "sent to rag serve" in err and "sent to rag serve" not in alone[2]
        assert _comparable(json.loads(alone[1])) == _comparable(json.loads(out)), command


def _comparable(shown: object) -> object:
    """Lists as sets of their items: the API pages documents oldest first, the ledger in its order."""
    if isinstance(shown, list):
        return sorted(json.dumps(item, sort_keys=True) for item in shown)
    return shown
