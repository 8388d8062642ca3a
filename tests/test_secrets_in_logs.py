"""The session's leak detector can fail: a secret logged through each path it reads is found.

Each test here uses a detector of its own, installed as the session's is, so the fake secrets
it catches do not fail the session; the last test shows that the session's detector knows the
secrets the suite really uses.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.config import Settings, mask_url
from rag.stores.sql.keys import ApiKeys
from tests.secrets_in_logs import SESSION, Finding, LeakDetector

FAKE = "sk-fake-0123456789abcdef"


@pytest.fixture
def detector() -> LeakDetector:
    found = LeakDetector()
    found.secret(FAKE, "a fake key")
    found.install()
    yield found
    found.uninstall()


def test_a_secret_in_a_project_log_line_is_found(detector: LeakDetector) -> None:
    """At INFO, which the default WARNING level would not even emit: the project's loggers are
    read at every level."""
    logging.getLogger("rag.retrieve.sql").info("event=sql_repair key=%s", FAKE)
    assert detector.findings() == [Finding("a fake key", "log record of rag.retrieve.sql", "sk-…(24 chars)")]


def test_a_secret_in_a_logged_traceback_is_found(detector: LeakDetector) -> None:
    """Through uvicorn's error logger, which stops propagating once uvicorn configured logging
    (as it does when a test serves the app in this process)."""
    uvicorn = logging.getLogger("uvicorn")
    uvicorn.propagate, propagated = False, uvicorn.propagate
    try:
        _log_a_traceback()
    finally:
        uvicorn.propagate = propagated
    assert [finding.where for finding in detector.findings()] == ["log record of uvicorn.error"]


def _log_a_traceback() -> None:
    try:
        raise ValueError(f"could not connect with {FAKE}")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("request failed")


def test_a_secret_in_a_servers_log_file_is_found(detector: LeakDetector, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(f"INFO started\nDEBUG Authorization: Bearer {FAKE}\n")
    detector.log_file(log, "the log of a model server")
    [finding] = detector.findings()
    assert finding.where == f"the log of a model server ({log})" and FAKE not in str(finding)


def test_what_the_project_masks_is_not_a_finding(detector: LeakDetector) -> None:
    """Masked, a secret may be logged. (A value of its own: a `SecretStr` teaches the session's
    detector its value, which must then never be logged unmasked, as FAKE is above.)"""
    masked = detector.secret("sk-masked-0123456789abcdef", "a masked key") or ""
    url = f"postgresql+psycopg://rag:{masked}@db/rag"
    logging.getLogger("rag.stores").warning("relational store %s is unreachable", mask_url(url))
    shown = Settings(llm_api_key=masked).masked()["llm_api_key"]
    logging.getLogger("rag.config").warning("settings: %s", shown)
    assert shown == "***" and detector.findings() == []


def test_the_session_detector_knows_the_suites_secrets(postgres_url: str, tmp_path: Path) -> None:
    assert SESSION.secrets.get(sa.engine.make_url(postgres_url).password) == "the test PostgreSQL password"
    Settings(admin_key="admin-key-made-by-a-test")
    assert SESSION.secrets["admin-key-made-by-a-test"] == "a SecretStr setting"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    from rag.stores.sql.schema import metadata

    metadata.create_all(engine)
    _, key = ApiKeys(engine).create(["kb"])
    assert SESSION.secrets[key] == "an API key"
    assert logging.getLogRecordFactory() is SESSION.recorder
