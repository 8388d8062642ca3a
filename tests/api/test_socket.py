"""The app behind a real uvicorn server on a loopback socket, as `rag serve` runs it."""

from __future__ import annotations

from pathlib import Path

import httpx

from api.app import create_app
from tests.api.conftest import DEMO, served_settings, serving


def test_the_service_answers_over_a_real_socket(served_data: Path) -> None:
    with (
        serving(create_app(served_settings(served_data))) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.get("/healthz").json() == {"status": "ok"}
        response = client.post("/v1/retrieve", json={"question": "Who is the CTO?", "kb": DEMO})
        assert response.status_code == 200 and response.json()["hits"]
        assert client.get("/docs").status_code == 200
