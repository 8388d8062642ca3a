"""The app behind a real uvicorn server on a loopback socket, as `rag serve` runs it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import uvicorn

from api.app import create_app
from tests.api.conftest import DEMO, served_settings

START_TIMEOUT_S = 120.0


def test_the_service_answers_over_a_real_socket(served_data: Path) -> None:
    config = uvicorn.Config(
        create_app(served_settings(served_data)), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            response = client.post("/v1/retrieve", json={"question": "Who is the CTO?", "kb": DEMO})
            assert response.status_code == 200 and response.json()["hits"]
            assert client.get("/docs").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert not thread.is_alive()
