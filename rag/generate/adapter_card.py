"""The adapter's card (`rag_adapter.json` beside PEFT's own files): which base it was trained on,
with the base's fingerprint, so an adapter is never applied to weights it was not trained for.

A LoRA adapter is a low-rank difference to one exact set of weights. Applied to another model of
the same shape (a re-quantized file, another release) it loads without an error and answers
worse, silently. So the base's SHA-256 is recorded at training time and checked wherever the
adapter is put to use: in-process, and by `rag finetune deploy` against the file a server loads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CARD_FILE = "rag_adapter.json"
_CARD_FORMAT = 1
#: weight files of a Transformers folder that make its fingerprint (configs and tokenizers do not)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
_READ_BYTES = 1 << 22


class AdapterError(ValueError):
    """The adapter cannot be used as asked; the message names the folder and why."""


def base_fingerprint(path: Path) -> str:
    """SHA-256 of the base's weights: the GGUF file itself, or a folder's weight files in name order
    (each name hashed with its content, so renaming a shard changes it)."""
    digest = hashlib.sha256()
    if path.is_file():
        files = [path]
    else:
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
        if not files:
            raise AdapterError(f"{path} holds no weight files ({', '.join(_WEIGHT_SUFFIXES)})")
    for file in files:
        if len(files) > 1:
            digest.update(file.name.encode() + b"\0")
        with file.open("rb") as stream:
            while block := stream.read(_READ_BYTES):
                digest.update(block)
    return digest.hexdigest()


@dataclass(slots=True)
class BaseModel:
    """The weights an adapter belongs to."""

    #: the path as the user gave it (a .gguf file or a Transformers folder), resolved
    path: str
    #: the model's own name (the packaged model's, or the file or folder name)
    name: str
    sha256: str
    architecture: str
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int


@dataclass(slots=True)
class AdapterCard:
    """What `rag finetune train` records about an adapter."""

    base: BaseModel
    #: LoRA rank, alpha, dropout and the module names adapted
    lora: dict[str, Any]
    #: steps, epochs, learning rate, sequence length, losses, best dev loss, data set folder
    training: dict[str, Any] = field(default_factory=dict)
    #: the name model servers serve it under (vLLM's `--lora-modules NAME=PATH`)
    name: str = ""
    format: int = _CARD_FORMAT

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CARD_FILE).write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def read(cls, folder: Path) -> AdapterCard:
        path = folder / CARD_FILE
        if not path.is_file():
            raise AdapterError(
                f"{folder} is not an adapter made by `rag finetune train` (no {CARD_FILE} in it)"
            )
        try:
            raw = json.loads(path.read_text())
            raw["base"] = BaseModel(**raw["base"])
            return cls(**raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise AdapterError(f"{path} is not a valid adapter card: {exc}") from None

    def check_base(self, weights: Path) -> None:
        """Refuse `weights` unless they are the very base this adapter was trained on."""
        found = base_fingerprint(weights)
        if found != self.base.sha256:
            raise AdapterError(
                f"the adapter {self.name or '(unnamed)'} was trained on {self.base.name} "
                f"(sha256 {self.base.sha256[:12]}…), but {weights} has sha256 {found[:12]}…: "
                "serve it on the base it was trained on, or train it again on this one"
            )
