"""Knowledge bases and documents over HTTP: admin-only KB management, uploads of every format, bad
files, the background queue, paging, deletion from every store, and names that try to be paths."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.documents import safe_name
from tests.api.conftest import ADMIN_KEY, DEMO, served_settings
from tests.corpus import FACTS, write_bad_files, write_corpus

KB = "uploads"
POLL_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def app_keys(
    served_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An app that queues every upload (RAG_UPLOAD_SYNC_MB=0), a KB for uploads, and three keys."""
    data = tmp_path_factory.mktemp("documents") / "data"
    shutil.copytree(served_data, data, symlinks=True)
    settings = served_settings(data, admin_key=ADMIN_KEY, upload_sync_mb=0.0, upload_max_files=12)
    with TestClient(create_app(settings)) as client:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        assert client.post("/v1/knowledge-bases", json={"name": KB}, headers=admin).status_code == 201
        keys = client.app.state.services.keys
        headers = {
            "admin": admin,
            "writer": {"Authorization": f"Bearer {keys.create([KB], can_write=True)[1]}"},
            "reader": {"Authorization": f"Bearer {keys.create([KB])[1]}"},
        }
        yield client, headers


def files_of(paths: list[Path]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (path.name, path.read_bytes())) for path in paths]


def wait_done(client: TestClient, ids: list[str], headers: dict[str, str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while True:
        states = [client.get(f"/v1/documents/{i}", headers=headers).json() for i in ids]
        if all(state["status"] in ("done", "failed") for state in states):
            return states
        assert time.monotonic() < deadline, f"still ingesting: {states}"
        time.sleep(0.5)


def test_only_the_admin_key_manages_knowledge_bases(app_keys: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = app_keys
    assert client.post("/v1/knowledge-bases", json={"name": KB}, headers=headers["admin"]).status_code == 409
    refused = client.post("/v1/knowledge-bases", json={"name": "mine"}, headers=headers["writer"])
    assert refused.status_code == 403 and "admin key" in refused.json()["error"]["message"]
    bad = client.post("/v1/knowledge-bases", json={"name": "../etc"}, headers=headers["admin"])
    assert bad.status_code == 422
    listed = client.get("/v1/knowledge-bases", headers=headers["reader"]).json()["knowledge_bases"]
    assert [kb["name"] for kb in listed] == [KB]  # the reader's key sees its KB only


def test_every_supported_format_is_ingested_in_the_background(
    app_keys: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, headers = app_keys
    corpus = write_corpus(tmp_path / "corpus")
    response = client.post(
        f"/v1/knowledge-bases/{KB}/documents",
        files=files_of(list(corpus.values())),
        headers=headers["writer"],
    )
    assert response.status_code == 202
    queued = response.json()["documents"]
    assert {d["file_name"] for d in queued} == set(corpus) and all(d["status"] == "queued" for d in queued)
    states = wait_done(client, [d["id"] for d in queued], headers["reader"])
    assert {s["status"] for s in states} == {"done"}, states
    found = client.post(
        "/v1/retrieve",
        json={"question": "Where does Ada Lovelace work?", "kb": KB},
        headers=headers["reader"],
    )
    assert FACTS["notes.txt"] in found.json()["hits"][0]["text"]
    stats = client.get(f"/v1/knowledge-bases/{KB}", headers=headers["reader"]).json()
    assert stats["tables"] >= 3 and stats["documents"] == {"done": len(corpus)}


def test_a_bad_file_fails_alone_with_its_reason(
    app_keys: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, headers = app_keys
    bad = write_bad_files(tmp_path / "bad")
    corrupt = bad["corrupt.pdf"]
    good = tmp_path / "fine.md"
    good.write_text("# Fine\n\nThis file is fine.")
    response = client.post(
        f"/v1/knowledge-bases/{KB}/documents", files=files_of([corrupt, good]), headers=headers["writer"]
    )
    states = {
        s["source"].rsplit("/", 1)[-1]: s
        for s in wait_done(client, [d["id"] for d in response.json()["documents"]], headers["writer"])
    }
    assert states["fine.md"]["status"] == "done"
    assert states["corrupt.pdf"]["status"] == "failed" and states["corrupt.pdf"]["error"]


def test_uploads_are_refused_with_a_reason_before_anything_is_stored(
    app_keys: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, headers = app_keys
    url = f"/v1/knowledge-bases/{KB}/documents"
    exe = client.post(url, files=[("files", ("tool.exe", b"MZ..."))], headers=headers["writer"])
    assert exe.status_code == 415 and "tool.exe" in exe.json()["error"]["message"]
    many = [("files", (f"n{i}.txt", b"x")) for i in range(13)]
    assert client.post(url, files=many, headers=headers["writer"]).status_code == 413
    read_only = client.post(url, files=[("files", ("a.txt", b"hello"))], headers=headers["reader"])
    assert read_only.status_code == 403 and "--write" in read_only.json()["error"]["message"]
    elsewhere = client.post(
        f"/v1/knowledge-bases/{DEMO}/documents", files=[("files", ("a.txt", b"x"))], headers=headers["writer"]
    )
    assert elsewhere.status_code == 404
    assert client.post(url, headers=headers["writer"]).status_code == 422  # no files at all


def test_a_name_that_tries_to_be_a_path_stays_inside_the_upload_folder(
    app_keys: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = app_keys
    response = client.post(
        f"/v1/knowledge-bases/{KB}/documents",
        files=[("files", ("../../../escape.txt", b"Nothing escapes the upload folder."))],
        headers=headers["writer"],
    )
    [state] = wait_done(client, [response.json()["documents"][0]["id"]], headers["writer"])
    uploads = (client.app.state.services.settings.data_dir / "uploads").resolve()
    assert Path(state["source"]).resolve().is_relative_to(uploads)
    assert safe_name("..\\..\\win.ini") == "win.ini" and safe_name("a/b/<x>.md") == "_x_.md"
    assert safe_name("...") == "upload"


def test_documents_are_paged_and_deleted_from_every_store(
    app_keys: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = app_keys
    url = f"/v1/knowledge-bases/{KB}/documents"
    first = client.get(url, params={"limit": 2}, headers=headers["reader"]).json()
    second = client.get(url, params={"limit": 2, "offset": 2}, headers=headers["reader"]).json()
    assert first["total"] == second["total"] >= 4 and len(first["documents"]) == 2
    assert not {d["id"] for d in first["documents"]} & {d["id"] for d in second["documents"]}
    every = client.get(url, params={"limit": 500}, headers=headers["reader"]).json()["documents"]
    notes = next(d for d in every if d["source"].endswith("notes.txt"))
    assert client.delete(f"/v1/documents/{notes['id']}", headers=headers["reader"]).status_code == 403
    assert client.delete(f"/v1/documents/{notes['id']}", headers=headers["writer"]).json() == {
        "deleted": notes["id"]
    }
    assert client.get(f"/v1/documents/{notes['id']}", headers=headers["writer"]).status_code == 404
    hits = client.post(
        "/v1/retrieve",
        json={"question": "Ada Lovelace Analytical Engines", "kb": KB},
        headers=headers["reader"],
    ).json()["hits"]
    assert all(hit["document_id"] != notes["id"] for hit in hits)
    assert not Path(notes["source"]).exists()


def test_a_small_upload_is_ingested_before_the_reply(client: TestClient) -> None:
    client.post("/v1/knowledge-bases", json={"name": "quick"})
    response = client.post(
        "/v1/knowledge-bases/quick/documents",
        files=[("files", ("hello.md", b"# Hello\n\nThe quick brown fox lives in Oslo."))],
    )
    assert response.status_code == 200
    [document] = response.json()["documents"]
    assert document["status"] == "done" and document["chunk_count"] == 1


def test_a_relative_data_folder_gives_the_same_document_ids_as_the_ledger(served_data: Path) -> None:
    shutil.copytree(served_data, Path("relative-data"), symlinks=True)  # the test's own working folder
    with TestClient(create_app(served_settings(Path("relative-data")))) as client:
        client.post("/v1/knowledge-bases", json={"name": "rel"})
        response = client.post(
            "/v1/knowledge-bases/rel/documents", files=[("files", ("a.md", b"# A\n\nAlpha."))]
        )
        [document] = response.json()["documents"]
        assert document["status"] == "done"
        assert client.get(f"/v1/documents/{document['id']}").json()["status"] == "done"


def test_the_fusion_weights_of_an_uploaded_kb_are_learned_after_the_reply(client: TestClient) -> None:
    """Uploads that grow a KB past the calibration size (30 chunks) answer as soon as the documents
    are stored; the refit (a hundred retrievals) follows on the service's own thread."""
    client.post("/v1/knowledge-bases", json={"name": "learned"})
    cities = ["Oslo", "Lyon", "Porto", "Turin", "Ghent", "Malmo", "Cork", "Graz"]
    notes = [
        (f"note-{n}.md", f"# Depot {n}\n\nDepot {n} in {cities[n % 8]} stores {n * 7} crates of item {n}.")
        for n in range(36)
    ]
    for batch in (notes[:18], notes[18:]):
        files = [("files", (name, text.encode())) for name, text in batch]
        response = client.post("/v1/knowledge-bases/learned/documents", files=files)
        assert response.status_code == 200
        assert {document["status"] for document in response.json()["documents"]} == {"done"}
    sql = client.app.state.services.stores.sql
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while (learned := sql.learned_weights("learned")) is None:
        assert time.monotonic() < deadline, "the KB's weights were never learned"
        time.sleep(0.5)
    assert learned.chunks == 36 and set(learned.weights) == {"vector", "keyword", "graph"}
