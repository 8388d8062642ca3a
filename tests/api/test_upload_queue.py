"""Uploads through the job queue (`RAG_INGEST_QUEUE`) on a real PostgreSQL: the bytes and the job
go into the relational store together, the job runs (here on `rag serve`'s own worker thread, as
it holds the embedded vector and graph stores), and `/v1/jobs` shows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import served_settings
from tests.api.test_documents import files_of, wait_done
from tests.corpus import FACTS, write_bad_files, write_corpus
from tests.postgres import create_database, drop_database

KB = "queued"


@pytest.fixture
def client(tmp_path: Path, postgres_url: str, model_cache: Path) -> Iterator[TestClient]:
    database = create_database(postgres_url, "uploadqueue")
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache, target_is_directory=True)
    settings = served_settings(data, sql_url=database, ingest_queue=True)
    try:
        with TestClient(create_app(settings)) as test_client:
            assert test_client.post("/v1/knowledge-bases", json={"name": KB}).status_code == 201
            yield test_client
    finally:
        drop_database(postgres_url, database)


@pytest.mark.slow
def test_queued_uploads_are_ingested_by_a_job_and_shown_in_v1_jobs(
    client: TestClient, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    corrupt = write_bad_files(tmp_path / "bad")["corrupt.pdf"]
    response = client.post(f"/v1/knowledge-bases/{KB}/documents", files=files_of([*corpus.values(), corrupt]))
    assert response.status_code == 202
    queued = {d["file_name"]: d for d in response.json()["documents"]}
    assert all(d["status"] == "queued" and isinstance(d["job"], int) for d in queued.values())

    states = {s["source"]: s for s in wait_done(client, [d["id"] for d in queued.values()], {})}
    assert states["upload:corrupt.pdf"]["status"] == "failed" and states["upload:corrupt.pdf"]["error"]
    assert {s["status"] for name, s in states.items() if name != "upload:corrupt.pdf"} == {"done"}
    found = client.post("/v1/retrieve", json={"question": "Where does Ada Lovelace work?", "kb": KB})
    assert FACTS["notes.txt"] in found.json()["hits"][0]["text"]

    listed = client.get("/v1/jobs", params={"kb": KB}).json()
    assert listed["counts"] == {"succeeded": len(corpus), "failed": 1}
    failed = client.get(f"/v1/jobs/{queued['corrupt.pdf']['job']}").json()
    # the document's own fault: one run, no retry, the ledger's reason shown with the job
    assert (failed["status"], failed["attempts"], failed["document_status"]) == ("failed", 1, "failed")
    assert failed["error"] == states["upload:corrupt.pdf"]["error"]
    services = client.app.state.services  # type: ignore[attr-defined]
    assert services.stores.sql.waiting_uploads([d["id"] for d in queued.values()]) == {}  # bytes gone
    assert client.get("/v1/jobs/999999").status_code == 404
    assert client.get("/v1/jobs", params={"status": "lost"}).status_code == 422

    deleted = client.delete(f"/v1/documents/{queued['notes.txt']['id']}")
    assert deleted.status_code == 200
    assert client.get(f"/v1/documents/{queued['notes.txt']['id']}").status_code == 404
