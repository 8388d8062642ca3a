"""The parts of `rag models check` that read what servers say, on the shapes each server sends, and
the quirk table that the servers which cannot run here (Ollama, LMDeploy, Xinference) depend on."""

from __future__ import annotations

import pytest

from rag.config import Settings
from rag.generate.quirks import SERVER_BY_OWNER, request_extras
from rag.serving.check import PROMPT_OVERHEAD_TOKENS, context_length, leaks_thinking, needed_context


def test_the_prompt_budget_is_every_token_budget_plus_the_instructions() -> None:
    settings = Settings(context_tokens=800, table_tokens=300, facts_tokens=150, answer_max_tokens=384)
    assert needed_context(settings) == 800 + 300 + 150 + 384 + PROMPT_OVERHEAD_TOKENS
    assert needed_context(Settings()) == 3712  # the default, quoted in deploy/README.md


@pytest.mark.parametrize(
    ("card", "window"),
    [
        ({"id": "qwen3", "owned_by": "vllm", "max_model_len": 2048}, 2048),  # vLLM
        (
            {"id": "m", "owned_by": "llamacpp", "meta": {"n_ctx_train": 32768, "n_vocab": 1}},
            32768,
        ),  # llama-server
        ({"id": "m", "owned_by": "llamacpp", "meta": {"n_ctx": 8192}}, 8192),
        ({"id": "qwen3:1.7b", "object": "model", "owned_by": "library"}, None),  # Ollama says nothing
        ({"id": "m", "max_model_len": "big"}, None),
    ],
)
def test_the_context_window_is_read_from_each_servers_model_card(card: dict, window: int | None) -> None:
    assert context_length(card) == window


@pytest.mark.parametrize(
    ("reply", "leaks"),
    [
        ("<think>\nThe user asks about Paris.\n</think>\n\nParis.", True),
        ("</think>Paris.", True),  # a template that opened the block in the prompt
        ("Paris is the capital of France [1].", False),
    ],
)
def test_thinking_in_a_reply_is_detected(reply: str, leaks: bool) -> None:
    assert leaks_thinking(reply) is leaks


def test_every_server_kind_is_recognised_by_its_owned_by() -> None:
    assert set(SERVER_BY_OWNER.values()) >= {"vllm", "llamacpp", "lmdeploy", "xinference", "ollama"}
    assert SERVER_BY_OWNER["library"] == "ollama"


@pytest.mark.parametrize(
    ("server", "extras"),
    [
        ("vllm", {"chat_template_kwargs": {"enable_thinking": False}}),
        ("llamacpp", {"chat_template_kwargs": {"enable_thinking": False}}),
        ("xinference", {"chat_template_kwargs": {"enable_thinking": False}}),
        ("lmdeploy", {"enable_thinking": False}),
        ("ollama", {"reasoning_effort": "none"}),
        ("", {"chat_template_kwargs": {"enable_thinking": False}}),
    ],
)
def test_qwen3_thinking_is_switched_off_the_way_each_server_understands(server: str, extras: dict) -> None:
    assert request_extras(server, "Qwen3-1.7B") == extras
    assert request_extras(server, "qwen3:1.7b") == extras


@pytest.mark.parametrize("server", ["vllm", "ollama", "lmdeploy", "xinference", "llamacpp", ""])
def test_other_models_get_no_extra_fields(server: str) -> None:
    assert request_extras(server, "smollm2") == {}
    assert request_extras(server, "llama-3.1-8b") == {}


def test_ollamas_window_is_raised_where_the_server_starts_not_per_request() -> None:
    """Ollama's /v1 ignores num_ctx in a request, so the table sends none: the window comes from
    deploy/ollama (Modelfile num_ctx, OLLAMA_CONTEXT_LENGTH), which the launch tests check."""
    for model in ("qwen3:1.7b", "llama3.2"):
        extras = request_extras("ollama", model)
        assert "num_ctx" not in extras and "options" not in extras and "keep_alive" not in extras
