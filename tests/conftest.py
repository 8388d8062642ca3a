"""Session fixtures that start real servers once: PostgreSQL from the system's binaries."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ingest.embed import Embedder, model_info
from tests.postgres import find_pg_bin, running_postgres

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of a real PostgreSQL server that lives for the test session."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries not found: apt-get install postgresql (then re-run)")
    with running_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged embedding model, loaded once for the whole session."""
    return Embedder(model_info("all-MiniLM-L6-v2"), batch_size=32)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read the developer's RAG_* variables or a rag.toml in the working folder."""
    for name in list(os.environ):
        if name.startswith("RAG_") and not name.startswith("RAG_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
