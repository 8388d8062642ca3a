"""Fixtures shared by the tests of more than one package of rag/."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.embed import model_info


@pytest.fixture(scope="session")
def cross_encoder_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real cross-encoder on disk: the packaged MiniLM with a fresh relevance head (seeded), the way
    RAG_RERANKER_MODEL names one (no trained cross-encoder ships in a package)."""
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("cross-encoder")
    path = model_info("all-MiniLM-L6-v2").path
    CrossEncoder(str(path), num_labels=1, local_files_only=True, device="cpu").save(str(folder))
    return folder
