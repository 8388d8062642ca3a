"""The in-process model: the packaged SmolLM2 really generating, whole and streamed."""

from __future__ import annotations

import threading

import pytest

from rag.generate import Message, ModelRequestError
from rag.generate.local import LocalChatModel
from rag.generate.weights import PACKAGED_NAME

QUESTION: list[Message] = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def test_the_packaged_model_answers_a_simple_question(smollm2: LocalChatModel) -> None:
    reply = smollm2.complete(QUESTION, max_tokens=8)
    assert "paris" in reply.lower()
    assert smollm2.name == PACKAGED_NAME


def test_streaming_gives_the_same_reply_piece_by_piece(smollm2: LocalChatModel) -> None:
    pieces = list(smollm2.stream(QUESTION, max_tokens=6))
    assert len(pieces) > 1
    assert "".join(pieces).strip() == smollm2.complete(QUESTION, max_tokens=6).strip()


def test_closing_a_stream_stops_generation(smollm2: LocalChatModel) -> None:
    stream = smollm2.stream([{"role": "user", "content": "Tell a long story."}], max_tokens=400)
    assert next(stream)
    stream.close()  # 400 tokens would take ~25 s here; closing must free the model at once
    assert smollm2.complete(QUESTION, max_tokens=2)  # the model is free again


def test_a_stream_left_unread_does_not_keep_the_model(smollm2: LocalChatModel) -> None:
    """A reader that takes a piece and walks away without closing (a server whose client hung up)
    must not hold the model: the next reply comes once the abandoned generation ends."""
    pieces = smollm2.stream([{"role": "user", "content": "Count to fifty."}], max_tokens=24)
    assert next(pieces)
    replies: list[str] = []
    asking = threading.Thread(
        target=lambda: replies.append(smollm2.complete(QUESTION, max_tokens=4)), daemon=True
    )
    asking.start()
    asking.join(timeout=120)
    pieces.close()
    assert replies and replies[0].strip()


def test_a_prompt_over_the_context_is_refused_before_generating(smollm2: LocalChatModel) -> None:
    long: list[Message] = [{"role": "user", "content": "word " * 9000}]
    with pytest.raises(ModelRequestError, match="exceeds the 8192-token context"):
        smollm2.complete(long, max_tokens=8)
