"""API keys: only hashes stored, each key scoped to its KBs on every route; open mode without keys."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rag.config import Settings
from tests.api.conftest import ADMIN_KEY, DEMO, OTHER
from tests.builders import open_test_stores
from tests.secrets_in_logs import SESSION

QUESTION = "When was Northwind Robotics founded?"
Keyed = tuple[TestClient, str, str]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_open_mode_needs_no_key(client: TestClient) -> None:
    response = client.post("/v1/retrieve", json={"question": QUESTION, "kb": DEMO})
    assert response.status_code == 200


def test_open_mode_may_not_have_the_server_ingest_paths_of_its_disk(client: TestClient) -> None:
    """Only the local credential of `rag serve`'s record may (api/local.py); the status it may read."""
    refused = client.post("/v1/local/ingest", json={"paths": ["/etc"], "kb": DEMO})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client.get("/v1/local/status", params={"kb": DEMO}).json()["kb"] == DEMO


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer rag-not-a-key"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
    ],
)
def test_without_a_valid_key_every_route_but_health_is_refused(keyed: Keyed, headers: dict[str, str]) -> None:
    client, _, _ = keyed
    for path, body in (
        ("/v1/retrieve", {"question": QUESTION, "kb": DEMO}),
        ("/v1/query", {"question": QUESTION}),
    ):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert client.get("/healthz").status_code == 200


def test_a_key_reads_its_own_kb_and_no_other(keyed: Keyed) -> None:
    client, demo_key, other_key = keyed
    ok = client.post("/v1/retrieve", json={"question": QUESTION, "kb": DEMO}, headers=bearer(demo_key))
    assert ok.status_code == 200 and ok.json()["hits"]
    for path in ("/v1/retrieve", "/v1/query"):
        refused = client.post(path, json={"question": "payroll?", "kb": OTHER}, headers=bearer(demo_key))
        # the same answer as for a KB that does not exist: a key cannot probe other teams' KBs
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "kb_not_found"
    dify = {
        "knowledge_id": OTHER,
        "query": "payroll",
        "retrieval_setting": {"top_k": 2, "score_threshold": 0},
    }
    refused = client.post("/retrieval", json=dify, headers=bearer(demo_key))
    assert refused.status_code == 404 and refused.json()["error_code"] == 2001
    allowed = client.post("/retrieval", json=dify, headers=bearer(other_key))
    assert allowed.status_code == 200 and "payroll" in allowed.json()["records"][0]["content"]


def test_the_admin_key_reads_every_kb(keyed: Keyed) -> None:
    client, _, _ = keyed
    for kb in (DEMO, OTHER):
        response = client.post(
            "/v1/retrieve", json={"question": "payroll", "kb": kb}, headers=bearer(ADMIN_KEY)
        )
        assert response.status_code == 200


def test_only_a_hash_of_each_key_is_stored(keyed: Keyed, keyed_data: Path) -> None:
    client, demo_key, _ = keyed
    engine = client.app.state.services.stores.sql.engine
    with engine.connect() as conn:
        hashes = set(conn.execute(sa.text("SELECT key_hash FROM api_keys")).scalars())
        dump = "\n".join(str(row) for row in conn.execute(sa.text("SELECT * FROM api_keys")))
    assert hashlib.sha256(demo_key.encode()).hexdigest() in hashes
    assert demo_key not in dump


def test_rag_keys_create_prints_the_key_alone_on_its_last_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rag.cli.app import app

    data = tmp_path / "data"
    with open_test_stores(Settings(data_dir=data)) as stores:
        stores.sql.create_kb(DEMO)
    runner = CliRunner()
    result = runner.invoke(app, ["keys", "create", "--kb", DEMO, "--write"], env={"RAG_DATA_DIR": str(data)})
    assert result.exit_code == 0
    key = result.stdout.splitlines()[-1]
    assert key.startswith("rag-") and len(key) > 40 and key not in result.stderr
    with open_test_stores(Settings(data_dir=data)) as stores:
        from rag.stores.sql.keys import ApiKeys

        grant = ApiKeys(stores.sql.engine).verify(key)
    assert grant is not None and grant.kbs == {DEMO} and grant.can_write
    listed = runner.invoke(app, ["keys", "list", "--json"], env={"RAG_DATA_DIR": str(data)})
    assert key not in listed.stdout and DEMO in listed.stdout
    missing = runner.invoke(app, ["keys", "create", "--kb", "nope"], env={"RAG_DATA_DIR": str(data)})
    assert missing.exit_code == 2 and "nope" in missing.stderr


def test_the_admin_key_manages_keys_over_http(keyed: Keyed) -> None:
    client, demo_key, _ = keyed
    admin = bearer(ADMIN_KEY)
    created = client.post("/v1/keys", json={"kbs": [OTHER]}, headers=admin)
    assert created.status_code == 201
    key, key_id = created.json()["key"], created.json()["id"]
    body = {"question": "payroll", "kb": OTHER}
    assert client.post("/v1/retrieve", json=body, headers=bearer(key)).status_code == 200
    listed = client.get("/v1/keys", headers=admin).json()["keys"]
    assert key_id in {k["id"] for k in listed} and key not in str(listed)
    assert client.delete(f"/v1/keys/{key_id}", headers=admin).json() == {"revoked": key_id}
    assert client.post("/v1/retrieve", json=body, headers=bearer(key)).status_code == 401
    assert client.post("/v1/keys", json={"kbs": [DEMO]}, headers=bearer(demo_key)).status_code == 403
    missing = client.post("/v1/keys", json={"kbs": ["nope"]}, headers=admin)
    assert missing.status_code == 404


def test_rag_serve_without_any_key_listens_on_loopback_only_and_says_so(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    import httpx

    from tests.servers import free_port

    port = free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "rag", "serve", "--host", "0.0.0.0", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "rag serve did not come up"
                time.sleep(0.5)
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
        if listening.returncode == 0:  # the local address column of each listening socket
            assert {line.split()[3] for line in listening.stdout.splitlines()} == {f"127.0.0.1:{port}"}
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
        SESSION.text("rag serve's stderr", stderr)
    assert "no API key exists" in stderr and "127.0.0.1 instead of 0.0.0.0" in stderr


def test_a_key_for_one_kb_is_refused_on_every_route_of_another(keyed: Keyed) -> None:
    client, demo_key, _ = keyed
    headers = bearer(demo_key)
    other_doc = client.get(f"/v1/knowledge-bases/{OTHER}/documents", headers=bearer(ADMIN_KEY)).json()
    doc_id = other_doc["documents"][0]["id"]
    calls = [
        ("POST", "/v1/query", {"json": {"question": "payroll?", "kb": OTHER}}),
        ("POST", "/v1/retrieve", {"json": {"question": "payroll?", "kb": OTHER}}),
        (
            "POST",
            "/v1/chat/completions",
            {"json": {"model": OTHER, "messages": [{"role": "user", "content": "x"}]}},
        ),
        ("GET", f"/v1/knowledge-bases/{OTHER}", {}),
        ("GET", f"/v1/knowledge-bases/{OTHER}/documents", {}),
        ("POST", f"/v1/knowledge-bases/{OTHER}/documents", {"files": [("files", ("a.txt", b"x"))]}),
        ("GET", f"/v1/documents/{doc_id}", {}),
        ("DELETE", f"/v1/documents/{doc_id}", {}),
        ("DELETE", f"/v1/knowledge-bases/{OTHER}", {}),
    ]
    for method, path, kwargs in calls:
        response = client.request(method, path, headers=headers, **kwargs)
        assert response.status_code in (403, 404), f"{method} {path}: {response.status_code}"
    still = client.get(f"/v1/documents/{doc_id}", headers=bearer(ADMIN_KEY))
    assert still.status_code == 200  # nothing was deleted
