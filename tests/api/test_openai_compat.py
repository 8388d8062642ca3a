"""The OpenAI-compatible facade, driven by the official `openai` SDK, whole and streamed, and a
conversation through a real HTTP server whose follow-up is answered from the right document."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openai import NotFoundError, OpenAI
from openai.types.chat import ChatCompletionMessageParam

from api.app import create_app
from api.openai_compat import ChatMessage, ContentPart, conversation_of
from rag.models import Turn
from tests.api.conftest import ADMIN_KEY, DEMO, OTHER, served_settings, serving

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
    assert last.model_extra["retrieval_question"] == QUESTION
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


def test_a_three_turn_conversation_answers_the_follow_up_from_the_right_document(
    served_data: Path, tmp_path: Path
) -> None:
    """What Open WebUI or an SDK loop does: every request carries the whole conversation, the
    facade's earlier answers with their "Sources" lists included."""
    data = tmp_path / "data"
    shutil.copytree(served_data, data, symlinks=True)
    app = create_app(served_settings(data, rewrite_deadline_s=120.0))
    with serving(app) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="any-key", max_retries=0, timeout=600)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": "Keep every answer to one sentence."}
        ]
        replies = []
        for question in (
            "What warranty do Northwind robots carry?",
            "Who is the CEO of Northwind Robotics?",
            "And when was it founded?",
        ):
            messages.append({"role": "user", "content": question})
            reply = client.chat.completions.create(model=DEMO, messages=messages, max_tokens=40)
            text = reply.choices[0].message.content or ""
            messages.append({"role": "assistant", "content": text})
            replies.append(reply)
    first, _, follow_up = (reply.model_extra or {} for reply in replies)
    assert {Path(c["source"]).name for c in first["citations"]} == {"support.html"}
    assert first["retrieval_question"] == "What warranty do Northwind robots carry?"
    assert "Northwind" in follow_up["retrieval_question"]
    assert {Path(c["source"]).name for c in follow_up["citations"]} == {"handbook.md"}
    assert any(c["how"] for c in follow_up["citations"])  # cited by the model or attributed


@pytest.mark.fast
def test_the_messages_become_question_history_and_instructions() -> None:
    messages = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Who is the CEO of Northwind Robotics?"),
        ChatMessage(role="assistant", content="Maria Keller [1].\n\nSources:\n[1] handbook.md\n[2] faq.md"),
        ChatMessage(role="assistant", content=None, tool_calls=[{"id": "call-1"}]),
        ChatMessage(role="assistant", content="\n\nSources:\n[1] handbook.md"),
        ChatMessage(role="tool", content='{"weather": "rain"}', tool_call_id="call-1"),
        ChatMessage(role="developer", content=[ContentPart(type="text", text="Answer in English.")]),
        ChatMessage(role="user", content=[ContentPart(type="text", text="And when was it founded?")]),
    ]
    asked = conversation_of(messages)
    assert asked.question == "And when was it founded?"
    assert asked.history == [
        Turn("user", "Who is the CEO of Northwind Robotics?"),
        Turn("assistant", "Maria Keller [1]."),
    ]
    assert asked.instructions == "Be brief.\n\nAnswer in English."
    assert conversation_of(messages[:2]).history == []
