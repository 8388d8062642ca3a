"""The optional cross-encoder reranker, with a real cross-encoder loaded from a local folder.

No trained cross-encoder ships in a package (docs/architecture.md, "Models offline"), so the
folder here (tests/rag/conftest.py) is the packaged MiniLM with a freshly initialised relevance
head, saved as a cross-encoder: its scores mean nothing, but it is a real model read from disk the
way RAG_RERANKER_MODEL is, which is what this code is responsible for. The order must follow the
model's own scores exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.models import Hit
from rag.retrieve.fuse import FusedHit
from rag.retrieve.rerank import RERANK, CrossEncoderReranker, RerankerError

QUESTION = "Which volcano is the most active in Europe?"
TEXTS = [
    "The Glacier Express crosses the Alps in eight hours.",
    "Mount Etna on Sicily is one of the most active volcanoes in the world.",
    "Zymurgy studies fermentation in brewing.",
    "Stromboli has erupted almost continuously for two thousand years.",
]


def fused(rank: int, text: str) -> FusedHit:
    hit = Hit(f"c{rank}", f"d{rank}", "kb", text, f"doc{rank}.md", 1.0, "vector", rank)
    return FusedHit(hit=hit, score=1.0 / (60 + rank), ranks={"vector": rank}, scores={"vector": 1.0})


def test_hits_are_reordered_by_the_cross_encoders_scores_and_cut_to_top_k(cross_encoder_folder: Path) -> None:
    from sentence_transformers import CrossEncoder

    expected = CrossEncoder(str(cross_encoder_folder), local_files_only=True, device="cpu").predict(
        [(QUESTION, text) for text in TEXTS]
    )
    hits = [fused(rank, text) for rank, text in enumerate(TEXTS, start=1)]
    reranked = CrossEncoderReranker(str(cross_encoder_folder)).rerank(QUESTION, hits, top_k=3)
    by_model = sorted(range(len(TEXTS)), key=lambda i: -expected[i])[:3]
    assert [item.hit.text for item in reranked] == [TEXTS[i] for i in by_model]
    for item in reranked:
        assert item.scores[RERANK] == pytest.approx(float(expected[TEXTS.index(item.hit.text)]), abs=1e-5)
        assert item.ranks["vector"] == item.hit.rank  # the fusion's evidence stays visible


def test_nothing_to_rerank_loads_nothing(tmp_path: Path) -> None:
    assert CrossEncoderReranker(str(tmp_path / "absent")).rerank(QUESTION, [], top_k=3) == []


def test_a_folder_that_is_not_a_model_is_named_with_the_setting(tmp_path: Path) -> None:
    reranker = CrossEncoderReranker(str(tmp_path))
    with pytest.raises(RerankerError, match=r"RAG_RERANKER_MODEL=.*no config\.json"):
        reranker.rerank(QUESTION, [fused(1, TEXTS[0])], top_k=1)
