"""Pick the entity/relation extractor the settings name."""

from __future__ import annotations

from rag.config import Settings
from rag.extract.base import Extractor
from rag.extract.heuristic import HeuristicExtractor


def open_extractor(settings: Settings) -> Extractor | None:
    """`auto`: the LLM extractor when a model server is configured, else the offline heuristics.

    `spacy` raises `ExtractorUnavailable` when spaCy or its pipeline is missing: a configuration
    error to report, not a reason to fall back silently to a graph of another quality."""
    choice = settings.extractor
    if choice == "auto":
        choice = "llm" if settings.llm_url else "heuristic"
    if choice == "none":
        return None
    if choice == "heuristic":
        return HeuristicExtractor()
    if choice == "spacy":
        from rag.extract.spacy_ner import SpacyExtractor

        return SpacyExtractor(settings.spacy_model)
    from rag.extract.llm import LLMExtractor
    from rag.generate.factory import open_chat_model

    # a model server batches requests in flight; the in-process model answers one at a time anyway
    concurrency = settings.extract_concurrency if settings.llm_url else 1
    return LLMExtractor(open_chat_model(settings), settings.data_dir / "cache", concurrency=concurrency)
