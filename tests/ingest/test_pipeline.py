"""End to end ingestion into the real stores: SQLite or PostgreSQL, Qdrant's embedded engine,
LadybugDB, and the packaged embedding model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ingest.pipeline import IngestSummary
from rag.config import Settings
from rag.embed import Embedder
from rag.extract.heuristic import HeuristicExtractor
from tests.builders import ingest_pipeline, open_test_stores
from tests.corpus import CHINESE_GBK, FACTS, write_bad_files, write_corpus
from tests.postgres import create_database

GOOD_FILES = 11
TABLES = 4  # sales.csv, people.json, and the two sheets of budget.xlsx


@pytest.fixture(params=["embedded", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The embedded default, and the same with PostgreSQL as the relational store."""
    sql_url = ""
    if request.param == "postgres":
        sql_url = create_database(request.getfixturevalue("postgres_url"), "pipeline")
    yield Settings(data_dir=tmp_path / "data", sql_url=sql_url, vector_index_threshold=0)


IngestFn = Callable[..., IngestSummary]


@pytest.fixture
def ingest(settings: Settings, embedder: Embedder) -> IngestFn:
    def run(
        paths: list[Path], kb: str = "kb", max_file_bytes: int = 10 << 20, **options: Any
    ) -> IngestSummary:
        with open_test_stores(settings) as stores:
            pipeline = ingest_pipeline(stores, embedder, HeuristicExtractor(), max_file_bytes=max_file_bytes)
            return pipeline.run(paths, kb, **options)

    return run


def status(settings: Settings, kb: str = "kb") -> dict[str, Any]:
    with open_test_stores(settings) as stores:
        report = stores.status(kb)
    report.pop("failed")
    return report


def chunk_texts(settings: Settings, kb: str = "kb") -> list[str]:
    with (
        open_test_stores(settings) as stores,
        stores.sql.engine.connect() as conn,
    ):
        return list(conn.scalars(sa.text("SELECT text FROM chunks WHERE kb = :kb"), {"kb": kb}))


def test_every_format_lands_in_all_three_stores(settings: Settings, ingest: IngestFn, tmp_path: Path) -> None:
    write_corpus(tmp_path / "docs")
    summary = ingest([tmp_path / "docs"])
    assert (summary.new, summary.failed, summary.tables) == (GOOD_FILES, 0, TABLES), summary.failures
    report = status(settings)
    assert report["documents"] == {"done": GOOD_FILES}
    assert report["chunks"] == summary.chunks == report["vectors"] == summary.vectors
    assert report["tables"] == TABLES
    assert report["entities"] > 5 and report["relations"] > 0
    text = "\n".join(chunk_texts(settings))
    for fact in FACTS.values():
        assert fact in text
    assert "陈伟" in text  # GBK without any marker was decoded
    assert "var x" not in text and "menu" not in text  # scripts and navigation are not content


def test_chinese_text_is_segmented_for_keyword_search(
    settings: Settings, ingest: IngestFn, tmp_path: Path
) -> None:
    (tmp_path / "zh.txt").write_bytes(CHINESE_GBK.encode("gbk"))
    ingest([tmp_path / "zh.txt"])
    with (
        open_test_stores(settings) as stores,
        stores.sql.engine.connect() as conn,
    ):
        if stores.sql.dialect == "sqlite":
            query = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH :q"
        else:
            query = "SELECT count(*) FROM chunks WHERE tsv @@ plainto_tsquery('english', :q)"
        assert conn.scalar(sa.text(query), {"q": "科技园"}) == 1
        assert conn.scalar(sa.text(query), {"q": "负责人"}) == 1


def test_unchanged_files_are_skipped_and_changed_ones_replaced_everywhere(
    settings: Settings, ingest: IngestFn, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "docs")
    first = ingest([tmp_path / "docs"])
    again = ingest([tmp_path / "docs"])
    assert (again.unchanged, again.new, again.changed, again.chunks, again.vectors) == (
        GOOD_FILES,
        0,
        0,
        0,
        0,
    )
    before = status(settings)

    files["notes.txt"].write_text("Marie Curie works at Sorbonne University in Paris.")
    changed = ingest([tmp_path / "docs"])
    assert (changed.changed, changed.unchanged) == (1, GOOD_FILES - 1)
    after = status(settings)
    assert after["chunks"] == after["vectors"]
    assert after["documents"] == {"done": GOOD_FILES}
    text = "\n".join(chunk_texts(settings))
    assert "Marie Curie" in text and FACTS["notes.txt"] not in text
    assert first.chunks == before["chunks"]
    with open_test_stores(settings) as stores:
        names = {n.lower() for n in _entity_names(stores)}
    assert "marie curie" in names and "ada lovelace" not in names


def _other_model(settings: Settings) -> Settings:
    other = "all-MiniLM-L6-v2" if settings.embed_model != "all-MiniLM-L6-v2" else "multilingual-e5-small"
    return settings.model_copy(update={"embed_model": other})


def test_a_kb_ingested_under_another_embedding_model_is_embedded_again(
    settings: Settings, ingest: IngestFn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the embedding model changes (a setting, or an upgrade's new default) the files are
    unchanged, but the new model's collection lacks them: the next ingest embeds every document of
    the KB, those of folders it did not walk too, without extracting their graph again, and learns
    the KB's fusion weights and answer-absent levels again from the new model's scores."""
    from rag.embed import model_info, open_embedder

    write_corpus(tmp_path / "docs")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "extra.txt").write_text("The lighthouse at Hook Head was lit in 1172.")
    first = ingest([tmp_path / "docs"])
    extra = ingest([tmp_path / "more"])
    refits: list[str] = []
    monkeypatch.setattr("ingest.pipeline.needs_refit", lambda sql, kb: False)  # as if learned for this size
    monkeypatch.setattr("ingest.pipeline.refit", lambda stores, embedder, kb: refits.append(kb) or {})
    moved = _other_model(settings)
    with open_test_stores(moved) as stores:
        assert stores.vector.count("kb") == 0
        pipeline = ingest_pipeline(stores, open_embedder(model_info(moved.embed_model)), HeuristicExtractor())
        again = pipeline.run([tmp_path / "docs"], "kb")  # `more` is not walked: embedded all the same
        assert (again.unchanged, again.reembedded) == (GOOD_FILES, GOOD_FILES + 1)
        assert again.vectors == first.vectors + extra.vectors == stores.vector.count("kb")
        assert (again.entities, again.relations) == (0, 0)  # the graph was there already
        assert refits == ["kb"]  # the same chunks, but the old model's scores
        report = stores.status("kb")
        assert report["vectors_by_collection"] == {stores.collection: report["chunks"]}
        assert pipeline.run([tmp_path / "docs"], "kb").reembedded == 0
        assert refits == ["kb"]
    # and back: the first model's collection still holds the old points, but the ledger says the
    # vectors are elsewhere, so they are replaced (not trusted, not duplicated)
    back = ingest([tmp_path / "more"])
    assert (back.unchanged, back.reembedded, back.vectors) == (
        1,
        GOOD_FILES + 1,
        first.vectors + extra.vectors,
    )
    assert status(settings)["vectors"] == first.vectors + extra.vectors


def test_a_kb_embedded_by_another_model_fails_vector_retrieval_with_the_reason(
    settings: Settings, ingest: IngestFn, tmp_path: Path
) -> None:
    """Before the next ingest, vector search under the new model would find nothing: the vector
    retriever fails, saying why and what to run, so fusion names it instead of passing an empty
    list for "nothing matches"; `rag status` shows where the vectors are."""
    from rag.embed import model_info, open_embedder
    from rag.retrieve.fused import FusedRetriever
    from rag.retrieve.keyword import KeywordRetriever
    from rag.retrieve.vector import VectorRetriever

    write_corpus(tmp_path / "docs")
    ingest([tmp_path / "docs"])
    with open_test_stores(settings) as stores:
        old = stores.collection
    moved = _other_model(settings)
    with open_test_stores(moved) as stores:
        embedder = open_embedder(model_info(moved.embed_model))
        vector = VectorRetriever(stores.vector, stores.sql, embedder, stores.collection)
        retrievers = [vector, KeywordRetriever(stores.sql)]
        found = FusedRetriever(retrievers, {"vector": 1.0, "keyword": 1.0}, timeout_s=30).retrieve(
            "Who designed the Analytical Engine?", "kb", 3
        )
        chunks = stores.sql.chunk_count("kb")
        [failure] = found.failed
        assert failure.source == "vector" and failure.reason == (
            f"VectorsMissing: KB kb has {chunks} chunks and no vectors for model {moved.embed_model}:"
            " run rag ingest --kb kb"
        )
        assert found.hits  # the keyword retriever answers meanwhile
        report = stores.status("kb")
        assert (report["vectors"], report["vectors_by_collection"]) == (0, {old: chunks})
        assert vector.retrieve("Analytical Engine", "empty-kb", 3) == []  # an empty KB is no failure


def test_documents_ingested_before_the_ledger_recorded_collections_keep_their_vectors(
    settings: Settings, ingest: IngestFn, tmp_path: Path
) -> None:
    """A ledger from before migration 0006 says nothing of where vectors are: when the configured
    collection holds the KB's vectors, the next ingest takes them as the documents' own."""
    write_corpus(tmp_path / "docs")
    first = ingest([tmp_path / "docs"])
    with open_test_stores(settings) as stores, stores.sql.engine.begin() as conn:
        conn.execute(sa.text("UPDATE documents SET vectors_in = NULL"))
    again = ingest([tmp_path / "docs"])
    assert (again.unchanged, again.reembedded, again.vectors) == (GOOD_FILES, 0, 0)
    report = status(settings)
    assert (
        report["vectors_by_collection"] == {report["collection"]: first.vectors}
        and report["vectors"] == first.vectors
    )


def _entity_names(stores: Any) -> list[str]:
    from rag.stores.graph.ladybug import LadybugGraphStore

    assert isinstance(stores.graph, LadybugGraphStore)
    return stores.graph.entity_names("kb")


def test_prune_and_delete_remove_documents_from_every_store(
    settings: Settings, ingest: IngestFn, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "docs")
    ingest([tmp_path / "docs"])
    full = status(settings)

    files["sales.csv"].unlink()
    files["memo.docx"].unlink()
    pruned = ingest([tmp_path / "docs"], prune=True)
    assert pruned.deleted == 2
    report = status(settings)
    assert report["documents"] == {"done": GOOD_FILES - 2}
    assert report["tables"] == TABLES - 1
    assert report["chunks"] == report["vectors"] < full["vectors"]

    with open_test_stores(settings) as stores:
        entries = stores.sql.find_documents(str(files["notes.txt"]))
        assert len(entries) == 1
        stores.delete_documents(entries)
        assert stores.sql.find_documents(str(files["notes.txt"])) == []
    report = status(settings)
    assert report["documents"] == {"done": GOOD_FILES - 3}
    assert report["chunks"] == report["vectors"]
    assert not any("Ada Lovelace" in t for t in chunk_texts(settings))


def test_knowledge_bases_are_isolated_and_deleted_from_every_store(
    settings: Settings, ingest: IngestFn, tmp_path: Path
) -> None:
    write_corpus(tmp_path / "docs")
    ingest([tmp_path / "docs"], kb="alpha")
    ingest([tmp_path / "docs" / "notes.txt"], kb="beta")
    alpha, beta = status(settings, "alpha"), status(settings, "beta")
    assert beta["documents"] == {"done": 1} and alpha["documents"] == {"done": GOOD_FILES}
    assert beta["vectors"] == beta["chunks"] and 0 < beta["entities"] < alpha["entities"]

    with open_test_stores(settings) as stores:
        stores.delete_kb("alpha")
        assert [row.name for row in stores.sql.list_kbs()] == ["beta"]
    emptied = status(settings, "alpha")
    assert emptied == {
        "kb": "alpha",
        "documents": {},
        "chunks": 0,
        "vectors": 0,
        "embedding_model": settings.embed_model,
        "collection": emptied["collection"],
        "vectors_by_collection": {},
        "entities": 0,
        "relations": 0,
        "tables": 0,
        "fusion_weights": {},
    }
    assert status(settings, "beta") == beta


def test_tables_become_typed_sql_tables_with_a_catalogue(
    settings: Settings, ingest: IngestFn, tmp_path: Path
) -> None:
    write_corpus(tmp_path / "docs")
    ingest([tmp_path / "docs"])
    with open_test_stores(settings) as stores:
        catalogue = {row.source_name: row for row in stores.sql.tables("kb")}
        sales = catalogue["sales"]
        assert [c["type"] for c in sales.columns] == ["text", "decimal", "date"]
        assert sales.row_count == 3 and len(sales.sample_rows) == 3
        with stores.sql.engine.connect() as conn:
            total = conn.scalar(sa.text(f"SELECT sum(amount) FROM {sales.name}"))
            assert float(total) == pytest.approx(2000.75)
            revenue = catalogue["budget / Revenue"]
            names = [c["name"] for c in revenue.columns]
            assert names == ["region", "sales_q1", "sales_q2"]
            assert conn.scalar(sa.text(f"SELECT sales_q2 FROM {revenue.name} WHERE region = 'South'")) == 950
    rows_as_text = "\n".join(chunk_texts(settings))
    assert "North" in rows_as_text and "1200.5" in rows_as_text


def test_bad_files_fail_alone_with_a_reason_and_leave_nothing(
    settings: Settings, ingest: IngestFn, tmp_path: Path
) -> None:
    write_corpus(tmp_path / "docs")
    bad = write_bad_files(tmp_path / "docs")
    big = tmp_path / "docs" / "big.txt"
    big.write_text("word " * 300_000)  # 1.5 MB against a 1 MB limit below
    summary = ingest([tmp_path / "docs"], max_file_bytes=1 << 20)
    reasons = {Path(f.source).name: f.error for f in summary.failures}
    assert set(reasons) == {*bad, "big.txt"}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "password" in reasons["locked.pdf"]
    assert "pdf" in reasons["corrupt.pdf"].lower()
    assert "json" in reasons["broken.json"].lower()
    assert "limit" in reasons["big.txt"] or "large" in reasons["big.txt"]
    assert summary.new == GOOD_FILES
    report = status(settings)
    assert report["documents"] == {"done": GOOD_FILES, "failed": len(reasons)}
    assert report["chunks"] == report["vectors"]
    with open_test_stores(settings) as stores:
        failed = stores.sql.stats("kb").failed
        assert {Path(f.source).name for f in failed} == set(reasons)
        assert all(f.error for f in failed)


class _LedgerWatch:
    """The pipeline's progress hook, reading the ledger's progress of one document after each page."""

    def __init__(self, stores: Any, document: str) -> None:
        self.stores, self.document, self.seen = stores, document, []

    def files(self, total: int) -> None: ...
    def file_done(self, source: str) -> None: ...
    def chunks(self, total: int) -> None: ...

    def chunks_done(self, count: int) -> None:
        [detail] = self.stores.sql.document_details([self.document])
        self.seen.append((detail.status, detail.chunks_indexed, detail.chunk_count))


def test_the_ledger_counts_each_documents_indexed_chunks_page_by_page(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    from rag.models import document_id

    folder = tmp_path / "docs"
    folder.mkdir()
    path = folder / "long.md"
    path.write_text("\n\n".join(f"Paragraph {n}: bridge {n} was built in {1800 + n}." for n in range(400)))
    with open_test_stores(settings) as stores:
        pipeline = ingest_pipeline(stores, embedder, chunk_size=16, chunk_overlap=0)
        key = document_id("kb", str(path))
        watch = _LedgerWatch(stores, key)
        pipeline.progress = watch
        summary = pipeline.run([folder], "kb")
        pages = -(-summary.chunks // max(embedder.batch_size * 4, 128))
        assert pages >= 3, summary.chunks
        indexed = [count for _, count, _ in watch.seen]
        assert len(indexed) == pages and indexed == sorted(indexed) and indexed[0] > 0
        assert watch.seen[-1] == ("done", summary.chunks, summary.chunks)
        assert {status for status, _, _ in watch.seen[:-1]} == {"stored"}
        # a resumed run embeds from the first chunk again: the count never goes back
        stores.sql.record_indexed({key: 5})
        assert stores.sql.document_details([key])[0].chunks_indexed == summary.chunks
