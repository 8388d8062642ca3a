"""What the tests build again and again, built one way: the repository's paths, the stores opened as
`rag` opens them, and the one ingest pipeline (the tests' counterpart of `ingest.factory`, with the
extractor and limits a test chooses instead of the settings')."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ingest.chunk import Chunker
from ingest.loaders.base import DEFAULT_LIMITS, Limits
from ingest.pipeline import IngestPipeline
from rag.config import Settings
from rag.embed import Embedder, configured_model
from rag.extract.base import Extractor
from rag.stores.factory import Stores, open_stores

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "docs" / "samples"
#: the public evaluation sets beside the repository (`../shared/datasets`)
DATASETS = REPO.parent / "shared" / "datasets"
#: big enough for every file the tests write
MAX_FILE_BYTES = 1 << 24


def open_test_stores(settings: Settings) -> Stores:
    """The stores `settings` name, with the vector collection of its embedding model."""
    return open_stores(settings, configured_model(settings))


def ingest_pipeline(
    stores: Stores,
    embedder: Embedder,
    extractor: Extractor | None = None,
    *,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    limits: Limits = DEFAULT_LIMITS,
) -> IngestPipeline:
    """An ingest pipeline over open stores, chunking with the embedder's own token counts (sizes
    from the stores' settings unless given); no extractor means no graph is built."""
    settings = stores.settings
    chunker = Chunker(
        chunk_size or settings.chunk_size,
        settings.chunk_overlap if chunk_overlap is None else chunk_overlap,
        lengths=embedder.token_lengths,
    )
    return IngestPipeline(stores, embedder, extractor, chunker, max_file_bytes, limits=limits)


def ingest_folders(
    stores: Stores, embedder: Embedder, folders: Mapping[str, Path], extractor: Extractor | None = None
) -> None:
    """Ingest each KB's folder, failing the test on any file that does not ingest."""
    pipeline = ingest_pipeline(stores, embedder, extractor)
    for kb, folder in folders.items():
        summary = pipeline.run([folder], kb)
        assert summary.failed == 0, summary.failures
