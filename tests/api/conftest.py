"""One data folder with the sample corpus in two KBs, served by the real app in-process.

`client` is Starlette's TestClient (httpx over the ASGI app, lifespan included): the app opens the
embedded stores and the packaged SmolLM2 exactly as `rag serve` does.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from rag.config import Settings
from rag.embed import Embedder
from rag.extract.heuristic import HeuristicExtractor
from rag.generate.local import LocalChatModel
from tests.builders import SAMPLES, ingest_pipeline, open_test_stores
from tests.secrets_in_logs import SESSION

ADMIN_KEY = "admin-secret-for-tests"
#: the other KB's one document: its text is a canary no log may hold
PAYROLL = (
    SESSION.secret("The payroll run happens on the 25th of every month.", "the text of a document") or ""
)
#: seconds uvicorn may take to open the stores and load the models
START_TIMEOUT_S = 120.0
#: the demo KB holds the sample corpus; the other KB one note, for key scoping
DEMO, OTHER = "demo", "other"


@pytest.fixture(scope="session")
def served_data(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, model_cache: Path, smollm2: LocalChatModel
) -> Path:
    """A data folder with both KBs ingested; its models/ shares the converted SmolLM2."""
    data = tmp_path_factory.mktemp("served")
    (data / "models").symlink_to(model_cache, target_is_directory=True)
    other = tmp_path_factory.mktemp("other-docs")
    (other / "secret.md").write_text(f"# Payroll\n\n{PAYROLL}")
    with open_test_stores(Settings(data_dir=data)) as stores:
        pipeline = ingest_pipeline(stores, embedder, HeuristicExtractor(), chunk_size=200, chunk_overlap=20)
        pipeline.run([SAMPLES], DEMO)
        pipeline.run([other], OTHER)
    return data


def served_settings(data: Path, **overrides: object) -> Settings:
    return Settings(data_dir=data, **{"answer_max_tokens": 40, **overrides})


@pytest.fixture(scope="module")
def client(served_data: Path) -> Iterator[TestClient]:
    """The app in open mode: no admin key, no API key."""
    with TestClient(create_app(served_settings(served_data))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keyed_data(served_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the served data for tests that create keys (a key ends open mode for everyone)."""
    copy = tmp_path_factory.mktemp("keyed") / "data"
    shutil.copytree(served_data, copy, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def keyed(keyed_data: Path) -> Iterator[tuple[TestClient, str, str]]:
    """The app with an admin key, and two keys: one reading `demo`, one reading and writing `other`."""
    with TestClient(create_app(served_settings(keyed_data, admin_key=ADMIN_KEY))) as test_client:
        keys = test_client.app.state.services.keys
        _, demo_key = keys.create([DEMO])
        _, other_key = keys.create([OTHER], can_write=True)
        yield test_client, demo_key, other_key


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app behind a real uvicorn server on a loopback socket, as `rag serve` runs it; its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert not thread.is_alive(), "uvicorn did not stop"
