"""Retrieval reads on a real hot standby (`pg_basebackup -R` from the same binaries), with its
replay paused and resumed as replication lag would, and stopped as a failed replica is."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.config import Settings
from rag.doctor import check_sql_replica
from rag.embed import Embedder
from rag.retrieve.factory import open_retrievers
from rag.retrieve.keyword import KeywordRetriever
from rag.stores.sql import SqlStore
from rag.stores.sql.replica import lsn_position
from tests.builders import ingest_pipeline, open_test_stores
from tests.postgres import PostgresServer, find_pg_bin, postgres_server, standby_of

KB = "team"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PostgresServer, PostgresServer]]:
    """A primary of its own and a streaming standby of it (the standby copies the whole cluster)."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries not found: apt-get install postgresql (then re-run)")
    with postgres_server() as primary, standby_of(primary) as standby:
        yield primary, standby


def _scalar(url: str, query: str) -> object:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar()
    finally:
        engine.dispose()


def _wait_replayed(primary: PostgresServer, standby: PostgresServer, within_s: float = 30.0) -> None:
    target = lsn_position(str(_scalar(primary.url, "SELECT pg_current_wal_lsn()")))
    deadline = time.monotonic() + within_s
    while lsn_position(str(_scalar(standby.url, "SELECT pg_last_wal_replay_lsn()"))) < target:
        assert time.monotonic() < deadline, "the standby did not replay the primary's WAL in time"
        time.sleep(0.1)


def _sources(hits: list) -> set[str]:
    return {Path(hit.source).name for hit in hits}


def test_the_standby_answers_reads_and_never_hides_the_writes_of_the_process_reading(
    servers: tuple[PostgresServer, PostgresServer], tmp_path: Path, embedder: Embedder
) -> None:
    primary, standby = servers
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "hopper.md").write_text("# Hopper\n\nGrace Hopper worked at Remington Rand in Philadelphia.\n")
    settings = Settings(data_dir=tmp_path / "data", sql_url=primary.url, sql_replica_url=standby.url)
    with open_test_stores(settings) as writer:
        pipeline = ingest_pipeline(writer, embedder)
        assert pipeline.run([folder], KB).failed == 0
        _wait_replayed(primary, standby)
        # another process (an API replica) that has written nothing reads from the standby
        reader = SqlStore(primary.url, replica_url=standby.url)
        try:
            assert _sources(KeywordRetriever(reader).retrieve("Remington Rand", KB, 5)) == {"hopper.md"}
            assert reader.reads is not None and reader.reads.served["replica"] == 1
            assert "bytes of WAL behind" in check_sql_replica(reader).detail

            _scalar(standby.url, "SELECT pg_wal_replay_pause()")
            try:
                (folder / "lovelace.md").write_text(
                    "# Lovelace\n\nAda Lovelace wrote the first program for the Analytical Engine.\n"
                )
                assert pipeline.run([folder], KB).new == 1
                # the writer reads its own write, though the standby has not replayed it
                assert writer.sql.reads is not None
                before = writer.sql.reads.served["primary"]
                keyword, vector = open_retrievers(writer, embedder, ["keyword", "vector"])
                assert "lovelace.md" in _sources(keyword.retrieve("Analytical Engine", KB, 5))
                assert writer.sql.reads.served["primary"] > before
                found = vector.retrieve("Who programmed the Analytical Engine?", KB, 1)
                assert _sources(found) == {"lovelace.md"}

                # the reader's keyword search is the standby's: the new document is not there yet,
                # which is what proves the standby answers (the primary holds it) ...
                assert KeywordRetriever(reader).retrieve("Analytical Engine", KB, 5) == []
                assert reader.reads.served["replica"] == 2
                # ... but the chunks a vector hit names are read from the primary when it lacks them
                named = reader.chunks_by_ids([hit.chunk_id for hit in found])
                assert [source for _, source in named.values()] == [found[0].source]
            finally:
                _scalar(standby.url, "SELECT pg_wal_replay_resume()")
            _wait_replayed(primary, standby)
            assert "lovelace.md" in _sources(KeywordRetriever(reader).retrieve("Analytical Engine", KB, 5))
            assert reader.reads.served["replica"] == 4  # the chunk read above went there first too
        finally:
            reader.close()


def test_a_standby_that_is_down_leaves_every_read_to_the_primary(
    servers: tuple[PostgresServer, PostgresServer], caplog: pytest.LogCaptureFixture
) -> None:
    primary, standby = servers
    reader = SqlStore(primary.url, replica_url=standby.url)
    try:
        reader.create_kb("down")
        assert reader.reads is not None
        reader.reads.retry_s = 0.0  # try the standby again on every read rather than after 30 s
        standby.stop()
        try:
            with caplog.at_level(logging.WARNING, logger="rag.stores.sql.replica"):
                assert KeywordRetriever(reader).retrieve("anything at all", "down", 5) == []
                assert reader.chunks_by_ids(["no-such-chunk"]) == {}
            assert reader.reads.served == {"primary": 2}
            warnings = [r.getMessage() for r in caplog.records if "sql_replica_skipped" in r.getMessage()]
            password = standby.url.split("@")[0].split(":")[-1]
            assert warnings and all(f":{standby.port}/" in w and password not in w for w in warnings)
            check = check_sql_replica(reader)
            assert check is not None and check.warn and "the primary answers every read" in check.detail
        finally:
            standby.start()
        _wait_replayed(primary, standby)
        KeywordRetriever(reader).retrieve("anything at all", "down", 5)
        assert reader.reads.served["replica"] == 1
    finally:
        reader.close()


@pytest.mark.fast
def test_a_replica_url_needs_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RAG_SQL_REPLICA_URL needs PostgreSQL"):
        SqlStore(f"sqlite:///{tmp_path / 'rag.sqlite3'}", replica_url="postgresql+psycopg://h/db")
