"""ONNX Runtime for sentence-transformers model folders: exported once from the folder's own
weights, int8-quantized, kept under the data folder (`RAG_EMBED_BACKEND=onnx`).

Why not sentence-transformers' own `backend="onnx"`: it loads through optimum-onnx, whose
releases pin transformers below 4.58, under the transformers 5 the rest of the service runs. The
export (`torch.onnx`, dynamo) and the quantization (`onnxruntime.quantization.quantize_dynamic`)
are those libraries' own; this module wires them, and does the steps a sentence-transformers
folder declares around its transformer: the query/document prompts, the pooling, the unit length.

Why int8 per output channel, MatMul weights only: on all-MiniLM-L6-v2 (2 cores), quantizing
every operator per tensor left the vectors at cosine 0.94 of the float model's; per channel, over
the MatMul weights alone, they stay at 0.992 (0.987 at worst) for 1.4x the passages per second
of PyTorch and questions 4x faster (docs/benchmarks.md, "Embedding backends"). The vectors still
differ, so they get a collection of their own (`EmbeddingModelInfo.slug`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.embed.base import (
    INTERACTIVE_TEXTS,
    EmbeddingModelError,
    SentenceTransformerEmbedder,
    configured_max_tokens,
    cores,
)

if TYPE_CHECKING:
    import numpy as np

#: bumped when the export or the quantization changes, so an older export is made again
EXPORT_VERSION = 1
MODEL_FILE = "model.onnx"
#: texts per run of the bulk session: MiniLM's ~150-token chunks went through at 97-100/s in runs
#: of 8 or 16, 83 in runs of 32 and 50 in runs of 64 (the activations of a small run stay in cache)
BULK_BATCH = 16
#: the modules a folder may have for this backend to do what sentence-transformers would
_SUPPORTED_MODULES = {
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
}
_POOLING_KEYS = {
    "mean": "pooling_mode_mean_tokens",
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
}
_POOLINGS = tuple(_POOLING_KEYS)


def fingerprint(folder: Path) -> str:
    """Which export a model folder needs: its files' names, sizes and modification times (a
    fine-tune saved into the same folder again changes them), the export's version and
    onnxruntime's (its quantizer writes the graph)."""
    import onnxruntime

    digest = hashlib.sha256(f"{EXPORT_VERSION} {onnxruntime.__version__} {folder.resolve()}".encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def export_model(folder: Path, target: Path) -> Path:
    """The folder's transformer as int8 ONNX in `target` (with its fast tokenizer), made once: a
    ready `target` is reused, and one being made by another process is built beside it and the
    first to finish wins (the folder is renamed into place whole, never seen half-written)."""
    if (target / MODEL_FILE).is_file():
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar is noise in a CLI

    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        if not tokenizer.is_fast:
            raise EmbeddingModelError(f"{folder} has no fast tokenizer; RAG_EMBED_BACKEND=onnx needs one")
        # eager attention exports as plain MatMuls, which are quantized with the rest: on MiniLM's
        # ~150-token chunks, 99 passages/s against 63 for the SDPA export
        model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
        sample = tokenizer(["an example", "a second, longer example"], padding=True, return_tensors="pt")
        names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]
        batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
        # the exporter prints its progress, and logs and warns about operators this model lacks
        with contextlib.redirect_stdout(None), warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                (),
                kwargs={name: sample[name] for name in names},
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_shapes={name: {0: batch, 1: length} for name in names},
                dynamo=True,
                verbose=False,
            )
        floats = building / "float.onnx"
        program.save(str(floats))
        with _quiet():
            quantize_dynamic(
                floats,
                building / MODEL_FILE,
                op_types_to_quantize=["MatMul"],
                per_channel=True,
                weight_type=QuantType.QInt8,
                use_external_data_format=model.num_parameters() > 400_000_000,  # protobuf's 2 GB
            )
        for path in building.glob("float.onnx*"):
            path.unlink()
        tokenizer.save_pretrained(building)
        with contextlib.suppress(OSError):  # another process got there first: its export is the same
            building.rename(target)
    except EmbeddingModelError:
        raise
    except Exception as exc:  # the exporter's failures name operators, not what the user can do
        raise EmbeddingModelError(
            f"cannot export {folder} to ONNX ({type(exc).__name__}: {exc}); set RAG_EMBED_BACKEND=torch"
        ) from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """While the block runs, torch's logs below an error and the advice onnxruntime's quantizer
    logs on the root logger are dropped; everything else is logged as usual."""
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)
    root = logging.getLogger()

    def advice(record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname

    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)
        torch_log.setLevel(level)


class OnnxEmbedder(SentenceTransformerEmbedder):
    """A sentence-transformers folder on ONNX Runtime, exported on first use.

        Two sessions over the same file: questions (a call of at most `INTERACTIVE_TEXTS` texts) run
        on a one-thread session, side by side up to one per core, so none waits behind an ingest's
        batch; bulk calls run one batch at a time on a session spread over every core. Each holds its
        own copy of the weights (all-MiniLM-L6-v2: 59 MB of the float model's 91; its token embeddings,
    read by a Gather, stay float)."""

    @cached_property
    def _config(self) -> tuple[str, dict[str, str], str | None]:
        """(pooling, prompts, default prompt name), read as sentence-transformers reads them; a
        folder with a module this backend does not run is refused rather than embedded wrongly."""
        folder = self.info.path
        modules = (
            json.loads((folder / "modules.json").read_text()) if (folder / "modules.json").exists() else []
        )
        unsupported = [m["type"] for m in modules if m.get("type") not in _SUPPORTED_MODULES]
        pooling_dirs = [m["path"] for m in modules if m.get("type") == "sentence_transformers.models.Pooling"]
        if unsupported or not pooling_dirs:
            what = ", ".join(unsupported) or "no Pooling module"
            raise EmbeddingModelError(
                f"{folder} has {what}; RAG_EMBED_BACKEND=onnx runs a transformer with mean, CLS or max "
                "pooling: set RAG_EMBED_BACKEND=torch for this model"
            )
        pooling_config = json.loads((folder / pooling_dirs[0] / "config.json").read_text())
        modes = [mode for mode in _POOLINGS if pooling_config.get(_POOLING_KEYS[mode])]
        if len(modes) != 1 or pooling_config.get("include_prompt", True) is False:
            raise EmbeddingModelError(
                f"{folder}'s pooling ({pooling_config}) is not one of {', '.join(_POOLINGS)} alone; "
                "set RAG_EMBED_BACKEND=torch for this model"
            )
        card = folder / "config_sentence_transformers.json"
        settings = json.loads(card.read_text()) if card.exists() else {}
        return modes[0], dict(settings.get("prompts") or {}), settings.get("default_prompt_name")

    @cached_property
    def _export(self) -> Path:
        """The exported folder, made the first time this model is used with this backend."""
        if self.info.exports is None:
            raise EmbeddingModelError("RAG_EMBED_BACKEND=onnx needs a folder for the exported model")
        _ = self._config  # refuse an unsupported folder before spending a minute exporting it
        return export_model(
            self.info.path, self.info.exports / f"{self.info.slug}-{fingerprint(self.info.path)}"
        )

    def _session(self, threads: int) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # idle threads sleep instead of spinning: on a busy service, spinning takes the cores
        # the other requests need
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return onnxruntime.InferenceSession(
                str(self._export / MODEL_FILE), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # a damaged export: name it, so the user can delete it
            raise EmbeddingModelError(f"cannot load {self._export / MODEL_FILE}: {exc}") from None

    @cached_property
    def _bulk(self) -> Any:
        return self._session(cores())

    @cached_property
    def _questions(self) -> Any:
        return self._session(1)

    @cached_property
    def _question_slots(self) -> threading.BoundedSemaphore:
        return threading.BoundedSemaphore(cores())

    @cached_property
    def tokenizer(self) -> Any:
        """The folder's `tokenizer.json`, or the one the export saved for a folder without it."""
        from tokenizers import Tokenizer

        own = self.info.path / "tokenizer.json"
        return Tokenizer.from_file(str(own if own.exists() else self._export / "tokenizer.json"))

    @cached_property
    def max_tokens(self) -> int:
        """The folder's configured limit, else what sentence-transformers would take: the smaller
        of the positions the model has and the tokenizer's limit."""
        configured = configured_max_tokens(self.info.path)
        if configured is not None:
            return configured
        positions = json.loads((self.info.path / "config.json").read_text()).get(
            "max_position_embeddings", 512
        )
        limit = json.loads((self._export / "tokenizer_config.json").read_text()).get(
            "model_max_length", positions
        )
        return int(min(positions, limit))

    @cached_property
    def _tokenizer(self) -> Any:
        """A copy of the tokenizer that cuts at the model's limit and pads each batch."""
        tokenizer = type(self.tokenizer).from_str(self.tokenizer.to_str())
        tokenizer.enable_truncation(self.max_tokens)
        pad = json.loads((self._export / "tokenizer_config.json").read_text()).get("pad_token") or "[PAD]"
        pad = pad["content"] if isinstance(pad, dict) else pad
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id(pad) or 0, pad_token=pad)
        return tokenizer

    def load(self) -> None:
        _ = self._bulk, self._questions, self._tokenizer

    def _run(self, session: Any, texts: list[str]) -> np.ndarray:
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {
            "input_ids": ids,
            "attention_mask": mask,
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        wanted = {i.name for i in session.get_inputs()}
        hidden = session.run(["last_hidden_state"], {k: v for k, v in feeds.items() if k in wanted})[0]
        pooling = self._config[0]
        if pooling == "cls":
            vectors = hidden[:, 0]
        elif pooling == "max":
            vectors = np.where(mask[..., None] > 0, hidden, -np.inf).max(axis=1)
        else:
            weights = mask[..., None].astype(np.float32)
            vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

    def _encode_prompted(self, texts: list[str], prompt: str) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.empty((0, self.info.dimension), dtype=np.float32)
        texts = [prompt + text for text in texts]
        if len(texts) <= INTERACTIVE_TEXTS:
            with self._question_slots:
                return self._run(self._questions, texts)
        # batches of like lengths pad least (sentence-transformers sorts the same way)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), self.info.dimension), dtype=np.float32)
        step = min(self.batch_size, BULK_BATCH)
        with self._model_lock:
            for start in range(0, len(texts), step):
                batch = order[start : start + step]
                vectors[batch] = self._run(self._bulk, [texts[i] for i in batch])
        return vectors

    def _prompt(self, names: tuple[str, ...]) -> str:
        _, prompts, default = self._config
        chosen = next((name for name in names if name in prompts), default)
        return prompts.get(chosen, "") if chosen else ""

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode_prompted(texts, self._prompt(("document", "passage", "corpus")))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode_prompted(texts, self._prompt(("query",)))
