"""`/v1/query` (JSON and Server-Sent Events), `/v1/retrieve`, health, readiness, metrics and errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import DEMO, served_settings

QUESTION = "When was Northwind Robotics founded?"


def sse_events(text: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_health_and_readiness_name_each_part(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["down"] == []
    assert set(ready.json()["checks"]) == {"relational", "vector", "graph", "model"}


def test_a_query_is_answered_with_citations(client: TestClient) -> None:
    response = client.post("/v1/query", json={"question": QUESTION, "kb": DEMO})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"answer", "citations", "sources_failed", "timings"}
    assert "2014" in body["answer"] and body["sources_failed"] == []
    handbook = [c for c in body["citations"] if c["source"].endswith("handbook.md")]
    assert handbook and handbook[0]["chunk_id"] and "vector" in handbook[0]["retrievers"]


def test_a_streamed_query_sends_tokens_then_the_answer(client: TestClient) -> None:
    with client.stream(
        "POST", "/v1/query", json={"question": QUESTION, "kb": DEMO, "stream": True}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.read().decode())
    *tokens, (last, answer) = events
    assert last == "answer" and len(tokens) > 1 and all(kind == "token" for kind, _ in tokens)
    assert "".join(str(data["text"]) for _, data in tokens).strip() == answer["answer"]
    assert answer["citations"]


def test_retrieve_shows_the_fused_hits_without_the_sql_retriever(client: TestClient) -> None:
    response = client.post("/v1/retrieve", json={"question": QUESTION, "kb": DEMO, "top_k": 3})
    body = response.json()
    assert response.status_code == 200 and len(body["hits"]) == 3
    assert body["hits"][0]["source"].endswith("handbook.md")
    assert set(body["timings_ms"]) >= {"vector", "keyword", "graph"} and "sql" not in body["timings_ms"]
    only = client.post("/v1/retrieve", json={"question": QUESTION, "kb": DEMO, "retrievers": ["keyword"]})
    assert {name for hit in only.json()["hits"] for name in hit["retrievers"]} == {"keyword"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kb": DEMO}, "body.question"),
        ({"question": "", "kb": DEMO}, "body.question"),
        ({"question": QUESTION, "kb": DEMO, "top_k": 0}, "body.top_k"),
        ({"question": QUESTION, "kb": DEMO, "retrievers": ["telepathy"]}, "body.retrievers.0"),
        ({"question": QUESTION, "kb": DEMO, "colour": "blue"}, "body.colour"),
    ],
)
def test_an_invalid_body_is_a_json_error_naming_the_field(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    response = client.post("/v1/query", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and field in error["message"]


def test_an_unknown_kb_and_a_malformed_body_are_json_errors(client: TestClient) -> None:
    missing = client.post("/v1/query", json={"question": QUESTION, "kb": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "kb_not_found"
    broken = client.post("/v1/retrieve", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "error" in broken.json()
    assert client.get("/v1/nowhere").json()["error"]["code"] == "http_404"


def test_metrics_count_requests_retrievers_and_the_models_first_token(client: TestClient) -> None:
    def sample(name: str) -> float:
        found = re.search(rf"^{re.escape(name)} (\S+)$", client.get("/metrics").text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    names = (
        'rag_http_requests_total{method="POST",route="/v1/query",status="200"}',
        'rag_retriever_seconds_count{retriever="vector"}',
        "rag_llm_first_token_seconds_count",
    )
    before = {name: sample(name) for name in names}
    client.post("/v1/query", json={"question": QUESTION, "kb": DEMO})
    assert {name: sample(name) - before[name] for name in names} == dict.fromkeys(names, 1.0)
    assert sample("rag_llm_completion_tokens_total") > 0


def test_readiness_names_what_is_down_and_cors_follows_the_setting(keyed_data: Path) -> None:
    settings = served_settings(
        keyed_data, llm_url="http://127.0.0.1:9/v1", cors_origins=["https://app.example"]
    )
    with TestClient(create_app(settings)) as down:
        ready = down.get("/readyz")
        assert ready.status_code == 503 and ready.json()["down"] == ["model"]
        assert "127.0.0.1:9" in ready.json()["checks"]["model"]["detail"]
        preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        allowed = down.options("/v1/query", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = down.options("/v1/query", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
