"""Settings: sources, validation, and secrets that never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Settings, mask_url

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://rag:pw@db:5432/rag", "postgresql+psycopg://rag:***@db:5432/rag"),
        ("https://user:s3cret@host:6333/p?api_key=k&x=1", "https://user:***@host:6333/p?api_key=***&x=1"),
        ("https://token@host/", "https://***@host/"),
        ("http://localhost:6333", "http://localhost:6333"),
        ("/a/folder", "/a/folder"),
        ("sqlite:////abs/rag.sqlite3", "sqlite:////abs/rag.sqlite3"),
    ],
)
def test_mask_url_hides_passwords_and_secret_parameters(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_environment_overrides_rag_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    Path("rag.toml").write_text(f'data_dir = "{tmp_path}/from-toml"\nchunk_size = 128\n')
    monkeypatch.setenv("RAG_CHUNK_SIZE", "96")
    settings = Settings()
    assert settings.data_dir == tmp_path / "from-toml"
    assert settings.chunk_size == 96
    assert settings.resolved_sql_url == f"sqlite:///{tmp_path}/from-toml/rag.sqlite3"
    assert settings.uses_embedded_store


def test_server_backends_are_not_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_SQL_URL", "postgresql+psycopg://u:p@db/rag")
    monkeypatch.setenv("RAG_VECTOR_URL", "http://qdrant:6333")
    monkeypatch.setenv("RAG_GRAPH_URL", "bolt://neo4j:7687")
    settings = Settings()
    assert not settings.uses_embedded_store
    assert settings.masked()["sql_url"] == "postgresql+psycopg://u:***@db/rag"
