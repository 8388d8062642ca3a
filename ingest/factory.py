"""Build the ingest pipeline the settings describe, and pick its entity/relation extractor."""

from __future__ import annotations

from ingest.chunk import Chunker
from ingest.embed import Embedder, open_embedder
from ingest.extract import Extractor, HeuristicExtractor
from ingest.pipeline import IngestPipeline, Progress
from rag.config import Settings
from rag.stores.factory import Stores

#: requests in flight to a model server, which batches them; the in-process model answers one at a time
_SERVER_CONCURRENCY = 4


def open_extractor(settings: Settings) -> Extractor | None:
    """`auto`: the LLM extractor when a model server is configured, else the offline heuristics."""
    choice = settings.extractor
    if choice == "auto":
        choice = "llm" if settings.llm_url else "heuristic"
    if choice == "none":
        return None
    if choice == "heuristic":
        return HeuristicExtractor()
    from ingest.extract_llm import LLMExtractor
    from rag.generate.factory import open_chat_model

    concurrency = _SERVER_CONCURRENCY if settings.llm_url else 1
    return LLMExtractor(open_chat_model(settings), settings.data_dir / "cache", concurrency=concurrency)


def open_ingest_pipeline(
    stores: Stores, progress: Progress | None = None, embedder: Embedder | None = None
) -> IngestPipeline:
    """The pipeline `rag ingest` and the upload endpoint share: the store's embedding model (an
    `embedder` already loaded may be passed in), chunks no longer than that model reads, the
    configured extractor and file size limit."""
    settings = stores.settings
    embedder = embedder or open_embedder(stores.embedding, settings.embed_batch_size)
    chunk_size = min(settings.chunk_size, embedder.max_tokens - 2)
    chunker = Chunker(chunk_size, settings.chunk_overlap, lengths=embedder.token_lengths)
    return IngestPipeline(
        stores,
        embedder,
        open_extractor(settings),
        chunker,
        max_file_bytes=int(settings.max_file_mb * 1024 * 1024),
        progress=progress,
    )
