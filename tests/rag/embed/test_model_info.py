"""The vector collection a local model folder gets: named by the folder, and by the revision its card
records, so a model trained again into the same folder never searches the earlier model's vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.embed import EMBEDDING_CARD, EmbeddingModelError, model_info
from rag.stores.vector import collection_name

pytestmark = pytest.mark.fast


def _folder(path: Path, revision: str | None = None) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"hidden_size": 384}))
    if revision is not None:
        (path / EMBEDDING_CARD).write_text(json.dumps({"revision": revision}))
    return path


def test_a_carded_folder_names_its_collection_by_folder_and_revision(tmp_path: Path) -> None:
    plain = model_info(str(_folder(tmp_path / "all-MiniLM-L6-v2")))
    first = model_info(str(_folder(tmp_path / "one" / "all-MiniLM-L6-v2", "3F2A9C1E00aa")))
    again = model_info(str(_folder(tmp_path / "two" / "all-MiniLM-L6-v2", "77b0d4e1c2ff")))
    assert collection_name(plain.slug, plain.dimension) == "chunks__all-minilm-l6-v2__384"
    assert collection_name(first.slug, first.dimension) == "chunks__all-minilm-l6-v2-3f2a9c1e00aa__384"
    assert len({plain.slug, first.slug, again.slug}) == 3


@pytest.mark.parametrize("card", ["not json", "{}", '{"revision": "--"}'])
def test_an_unreadable_card_is_an_error_naming_it(tmp_path: Path, card: str) -> None:
    folder = _folder(tmp_path / "model")
    (folder / EMBEDDING_CARD).write_text(card)
    with pytest.raises(EmbeddingModelError, match=EMBEDDING_CARD):
        model_info(str(folder))


@pytest.mark.parametrize("key", ["word_embedding_dimension", "embedding_dimension"])
def test_the_dimension_is_read_from_either_sentence_transformers_pooling_config(
    tmp_path: Path, key: str
) -> None:
    """sentence-transformers 6 writes `embedding_dimension` (every fine-tune saved here); older
    releases, and the packaged MiniLM, `word_embedding_dimension`."""
    folder = tmp_path / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({key: 256}))
    assert model_info(str(folder)).dimension == 256
