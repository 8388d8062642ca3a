"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1 that generates with SmolLM2,
and against servers that are down, hang up, are not ready, or refuse."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rag.config import Settings
from rag.generate import Message, ModelError, ModelRequestError, ModelUnavailable
from rag.generate.client import ChatClient
from rag.generate.factory import open_chat_model
from rag.generate.local import LocalChatModel
from tests.rag.generate import openai_server
from tests.rag.generate.openai_server import API_KEY, SERVED, ChatServer, hanging_up_server

chat_server = openai_server.chat_server  # the session fixture

QUESTION: list[Message] = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def client(server: ChatServer, model: str = SERVED, kind: str | None = None) -> ChatClient:
    return ChatClient(server.url, model, api_key=API_KEY, server=kind, backoff=0.05)


def test_a_reply_comes_from_the_model_behind_the_server(chat_server: ChatServer) -> None:
    reply = client(chat_server).complete(QUESTION, max_tokens=8)
    assert "paris" in reply.lower()
    sent = chat_server.asked(SERVED)[-1]
    assert sent["max_tokens"] == 8
    assert sent["temperature"] == 0.0
    assert sent["stream"] is False


def test_a_streamed_reply_arrives_in_pieces_over_sse(chat_server: ChatServer) -> None:
    model = client(chat_server)
    pieces = list(model.stream(QUESTION, max_tokens=6))
    assert len(pieces) > 1
    assert chat_server.asked(SERVED)[-1]["stream"] is True
    assert "".join(pieces).strip() == model.complete(QUESTION, max_tokens=6).strip()


def test_json_mode_asks_the_server_for_a_json_object(chat_server: ChatServer) -> None:
    chat_server.canned["json-model"] = '{"ok": true}'
    assert client(chat_server, "json-model").complete(QUESTION, json_mode=True) == '{"ok": true}'
    assert chat_server.asked("json-model")[-1]["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("server", "extras"),
    [
        (None, {"chat_template_kwargs": {"enable_thinking": False}}),  # read from owned_by: vllm
        ("lmdeploy", {"enable_thinking": False}),
        ("ollama", {"reasoning_effort": "none"}),
    ],
)
def test_the_thinking_switch_follows_the_quirks_table(
    chat_server: ChatServer, server: str | None, extras: dict[str, object]
) -> None:
    chat_server.canned["Qwen3-8B"] = chat_server.canned["llama-3"] = "fine"
    thinking = client(chat_server, "Qwen3-8B", server)
    assert thinking.complete(QUESTION) == "fine"
    assert thinking.server == (server or "vllm")
    sent = chat_server.asked("Qwen3-8B")[-1]
    assert {key: sent[key] for key in extras} == extras
    assert not ({"chat_template_kwargs", "enable_thinking", "reasoning_effort"} - set(extras)) & set(sent)
    client(chat_server, "llama-3", server).complete(QUESTION)
    assert not {"chat_template_kwargs", "enable_thinking", "reasoning_effort"} & set(
        chat_server.asked("llama-3")[-1]
    )


def test_an_unreachable_server_fails_fast_naming_the_url_but_not_the_key() -> None:
    model = ChatClient("http://127.0.0.1:9/v1", "m", api_key="sk-secret-abc", timeout=5, server="")
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable) as caught:
        model.complete(QUESTION)
    assert time.perf_counter() - started < 5
    message = str(caught.value)
    assert "http://127.0.0.1:9/v1" in message
    assert "unreachable after 3 attempts" in message
    assert "sk-secret" not in message


def test_connection_failures_are_retried_with_backoff_then_reported() -> None:
    with hanging_up_server() as (url, accepted):
        model = ChatClient(url, "m", server="", retries=3, backoff=0.05)
        started = time.perf_counter()
        with pytest.raises(ModelUnavailable, match="unreachable after 4 attempts"):
            model.complete(QUESTION)
        assert accepted[0] == 4
        assert time.perf_counter() - started >= 0.05 + 0.1 + 0.2  # backoff doubles


def test_a_server_that_is_not_ready_yet_is_retried_until_it_answers(chat_server: ChatServer) -> None:
    chat_server.canned["loading-model"] = "ready"
    chat_server.not_ready["loading-model"] = 2
    model = client(chat_server, "loading-model")
    assert model.complete(QUESTION) == "ready"
    assert len(chat_server.asked("loading-model")) == 3


def test_a_prompt_the_server_refuses_is_a_request_error(chat_server: ChatServer) -> None:
    too_long: list[Message] = [{"role": "user", "content": "word " * 9000}]
    with pytest.raises(ModelRequestError, match=r"HTTP 400: prompt of .* exceeds"):
        client(chat_server).complete(too_long, max_tokens=8)


def test_a_wrong_key_or_model_is_an_error_naming_the_server(chat_server: ChatServer) -> None:
    with pytest.raises(ModelError, match="HTTP 401: Incorrect API key") as caught:
        ChatClient(chat_server.url, SERVED, api_key="sk-wrong-key", server="").complete(QUESTION)
    assert chat_server.url in str(caught.value)
    assert "sk-wrong" not in str(caught.value)
    assert not isinstance(caught.value, ModelRequestError | ModelUnavailable)
    with pytest.raises(ModelError, match="HTTP 404: The model `nope` does not exist"):
        client(chat_server, "nope").complete(QUESTION)


def test_without_a_model_name_the_served_model_must_be_unambiguous(chat_server: ChatServer) -> None:
    chat_server.canned["other-model"] = "x"
    with pytest.raises(ModelError, match=r"no model named and .* serves \d+ \(smollm2, .*set RAG_LLM_MODEL"):
        client(chat_server, "").complete(QUESTION)


def test_the_settings_pick_the_server_or_the_in_process_model(tmp_path: Path) -> None:
    served = open_chat_model(
        Settings(data_dir=tmp_path, llm_url="http://127.0.0.1:9/v1/", llm_model="m", llm_api_key="k")
    )
    assert isinstance(served, ChatClient)
    assert served.url == "http://127.0.0.1:9/v1"
    assert served.name == "m"
    local = open_chat_model(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalChatModel)
    assert local.cache_dir == tmp_path / "models"
    with pytest.raises(ModelError, match="must start with http"):
        open_chat_model(Settings(data_dir=tmp_path, llm_url="localhost:8000/v1"))
