"""Build the ingest pipeline the settings describe."""

from __future__ import annotations

from ingest.chunk import Chunker
from ingest.loaders.base import Limits
from ingest.pipeline import IngestPipeline, Progress
from rag.embed import Embedder, open_embedder
from rag.extract.factory import open_extractor
from rag.stores.factory import Stores


def open_ingest_pipeline(
    stores: Stores, progress: Progress | None = None, embedder: Embedder | None = None
) -> IngestPipeline:
    """The pipeline `rag ingest` and the upload endpoint share: the store's embedding model (an
    `embedder` already loaded may be passed in), chunks no longer than that model reads, the
    configured extractor, file size limit and the limits on what a file may hold."""
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
        limits=Limits.from_settings(settings),
    )
