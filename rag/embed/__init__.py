"""Embedding models and their token counting: shared by ingestion (chunks, vectors) and retrieval
(query vectors, prompt budgets)."""

from rag.embed.base import (
    EMBEDDING_CARD,
    Embedder,
    EmbeddingModelError,
    EmbeddingModelInfo,
    configured_model,
    model_info,
    model_revision,
    open_embedder,
    resolve_model_path,
)
from rag.embed.tokens import TokenLengths, approximate_lengths, token_lengths

__all__ = [
    "EMBEDDING_CARD",
    "Embedder",
    "EmbeddingModelError",
    "EmbeddingModelInfo",
    "TokenLengths",
    "approximate_lengths",
    "configured_model",
    "model_info",
    "model_revision",
    "open_embedder",
    "resolve_model_path",
    "token_lengths",
]
