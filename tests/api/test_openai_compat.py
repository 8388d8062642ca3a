"""The OpenAI-compatible facade, driven by the official `openai` SDK, whole and streamed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from openai import NotFoundError, OpenAI

from tests.api.conftest import ADMIN_KEY, DEMO, OTHER

QUESTION = "When was Northwind Robotics founded?"
Keyed = tuple[TestClient, str, str]


def sdk(client: TestClient, key: str = "any-key") -> OpenAI:
    """The official client, over the in-process app (TestClient is an httpx.Client)."""
    return OpenAI(base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0)


def test_models_are_the_kbs_by_name_and_with_the_prefix(client: TestClient) -> None:
    ids = {model.id for model in sdk(client).models.list()}
    assert {DEMO, f"rag:{DEMO}", OTHER, f"rag:{OTHER}"} <= ids


def test_a_chat_completion_answers_with_citations_in_text_and_field(client: TestClient) -> None:
    completion = sdk(client).chat.completions.create(
        model=f"rag:{DEMO}",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! Ask me anything."},
            {"role": "user", "content": QUESTION},
        ],
        max_tokens=40,
        temperature=0,
    )
    text = completion.choices[0].message.content or ""
    assert "2014" in text and "\n\nSources:\n[" in text and "handbook.md" in text
    assert completion.choices[0].finish_reason == "stop"
    citations = completion.model_extra["citations"]
    assert any(c["source"].endswith("handbook.md") and c["chunk_id"] for c in citations)
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_a_streamed_chat_completion_has_openais_chunk_shapes(client: TestClient) -> None:
    stream = sdk(client).chat.completions.create(
        model=DEMO, messages=[{"role": "user", "content": QUESTION}], stream=True, max_tokens=40
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert "2014" in text and "Sources:" in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and last.model_extra["citations"]
    assert len({chunk.id for chunk in chunks}) == 1


def test_a_key_sees_and_asks_only_its_own_kbs(keyed: Keyed) -> None:
    client, demo_key, _ = keyed
    assert {model.id for model in sdk(client, demo_key).models.list()} == {DEMO, f"rag:{DEMO}"}
    with pytest.raises(NotFoundError):
        sdk(client, demo_key).chat.completions.create(
            model=OTHER, messages=[{"role": "user", "content": "payroll?"}], max_tokens=8
        )
    admin_ids = {model.id for model in sdk(client, ADMIN_KEY).models.list()}
    assert {DEMO, OTHER} <= admin_ids


def test_a_conversation_without_a_user_message_is_a_clear_error(client: TestClient) -> None:
    response = client.post(
        "/v1/chat/completions", json={"model": DEMO, "messages": [{"role": "system", "content": "x"}]}
    )
    assert response.status_code == 422 and "no user message" in response.json()["error"]["message"]
