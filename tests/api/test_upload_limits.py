"""Uploads that try to exhaust the service, against the real app behind a real uvicorn server: a 1 GB
body with and without a truthful Content-Length, a file over RAG_MAX_FILE_MB, and file names that try
to be paths or carry NUL, control characters, 4 KB of characters or a drive letter.

The 1 GB is a generator: it is never in the test's memory either, and what it yielded before the
server's reply is how much of it the server read.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import create_app
from tests.api.conftest import served_settings, serving

KB = "limits"
LIMIT_MB = 8
GB = 1 << 30
BOUNDARY = "limits-boundary"
HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
    "Content-Type: text/plain\r\n\r\n"
).encode()
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture(scope="module")
def server(served_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app with an 8 MB body limit and a 4 MB file limit on a loopback port; its URL and data folder."""
    data = tmp_path_factory.mktemp("limits") / "data"
    shutil.copytree(served_data, data, symlinks=True)
    settings = served_settings(data, upload_max_mb=LIMIT_MB, max_file_mb=4.0, upload_sync_mb=100.0)
    with serving(create_app(settings)) as url:
        assert httpx.post(f"{url}/v1/knowledge-bases", json={"name": KB}, timeout=30).status_code == 201
        yield url, data


class Gigabyte:
    """A multipart body of one 1 GB text file, produced as it is sent; counts what was taken."""

    def __init__(self) -> None:
        self.sent = 0

    def __len__(self) -> int:
        return len(HEAD) + GB + len(TAIL)

    def __iter__(self) -> Iterator[bytes]:
        yield HEAD
        block = b"a" * (1 << 16)
        while self.sent < GB:
            self.sent += len(block)
            yield block
        yield TAIL


def _upload_url(url: str) -> str:
    return f"{url}/v1/knowledge-bases/{KB}/documents"


def _documents(url: str) -> list[dict[str, Any]]:
    return httpx.get(_upload_url(url), params={"limit": 500}, timeout=30).json()["documents"]


def _uploaded(data: Path) -> set[Path]:
    """What the upload folder holds (the data folder is a copy of a session's, uploads and all)."""
    return set((data / "uploads").rglob("*"))


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert response.json()["error"] == {
        "code": "request_too_large",
        "message": f"the request body is over the {LIMIT_MB}.0 MB limit; raise RAG_UPLOAD_MAX_MB to allow it",
    }


def test_a_1_gb_upload_with_a_truthful_content_length_is_refused_before_its_body_is_read(
    server: tuple[str, Path],
) -> None:
    url, data = server
    before = _uploaded(data)
    body = Gigabyte()
    started = time.perf_counter()
    headers = {**MULTIPART, "Content-Length": str(len(body))}
    response = httpx.post(_upload_url(url), content=iter(body), headers=headers, timeout=60)
    _refused(response)
    # what the socket buffers took before the reply; the server read none of it
    assert body.sent < 4 << 20 and time.perf_counter() - started < 10, body.sent
    assert _uploaded(data) == before


def test_the_refusal_comes_before_the_client_sends_the_body(server: tuple[str, Path]) -> None:
    """A client that asks first (Expect: 100-continue, as curl does for large bodies) sends nothing."""
    host, port = urlsplit(server[0]).hostname, urlsplit(server[0]).port
    with socket.create_connection((host, port), timeout=30) as raw:
        raw.sendall(
            f"POST /v1/knowledge-bases/{KB}/documents HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: {MULTIPART['Content-Type']}\r\nContent-Length: {GB}\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        reply = b""
        while chunk := raw.recv(4096):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    assert b"request_too_large" in body


def test_a_1_gb_upload_without_content_length_is_cut_at_the_limit(server: tuple[str, Path]) -> None:
    url, data = server
    before = _documents(url)
    body = Gigabyte()
    started = time.perf_counter()
    response = httpx.post(_upload_url(url), content=iter(body), headers=MULTIPART, timeout=60)  # chunked
    _refused(response)
    # the server read up to the limit and closed the connection: the rest was never sent
    assert body.sent < (LIMIT_MB + 8) << 20 and time.perf_counter() - started < 30, body.sent
    assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
    assert _documents(url) == before
    assert not list((data / "uploads").rglob("*.part"))


def test_a_file_over_the_file_limit_is_refused_within_the_body_limit(server: tuple[str, Path]) -> None:
    url, _ = server
    files = [("files", ("big.txt", b"word " * (1 << 20)))]  # 5 MB: under the body's 8, over the file's 4
    response = httpx.post(_upload_url(url), files=files, timeout=60)
    assert response.status_code == 413
    assert response.json()["error"] == {"code": "file_too_large", "message": "big.txt: larger than 4 MB"}


def _raw_upload(url: str, name: bytes, content: bytes) -> httpx.Response:
    """A multipart upload whose file name is sent byte for byte (httpx would percent-encode NUL and
    control characters)."""
    body = (
        f"--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="files"; filename="'
        + name
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + content
        + TAIL
    )
    return httpx.post(_upload_url(url), content=body, headers=MULTIPART, timeout=120)


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        (b"../../../escape.txt", "escape.txt"),
        (b"..\\..\\..\\windows\\win.ini.txt", "win.ini.txt"),
        (b"C:\\Users\\bob\\report.md", "report.md"),
        (b"C:report.md", "C_report.md"),
        (b"/etc/cron.d/evil.txt", "evil.txt"),
        (b"nul\x00byte.txt", "nul_byte.txt"),
        (b"escape\x1b[31mcode\x07.txt", "escape_31mcode_.txt"),
        (b"a" * 4096 + b".txt", "a" * 196 + ".txt"),
        (("深" * 1000 + ".md").encode(), "深" * 65 + ".md"),  # 3 KB of UTF-8: cut to 200 bytes
    ],
    ids=["dotdot", "backslashes", "drive-path", "drive-relative", "absolute", "nul", "control", "4k", "cjk"],
)
def test_a_hostile_file_name_is_stored_under_a_safe_name_inside_the_upload_folder(
    server: tuple[str, Path], name: bytes, stored: str
) -> None:
    url, data = server
    outside = set(data.parent.rglob("*")) - set(data.rglob("*"))
    response = _raw_upload(url, name, b"The Bergen office keeps the spare keys.")
    assert response.status_code == 200, response.text
    [document] = response.json()["documents"]
    assert document["status"] == "done", document
    source = Path(document["source"])
    assert source.name == stored and document["metadata"]["file_name"] == stored
    assert source.resolve().is_relative_to((data / "uploads").resolve()) and source.is_file()
    assert set(data.parent.rglob("*")) - set(data.rglob("*")) == outside  # nothing written beside


def test_a_name_over_the_multipart_parser_header_limit_is_refused(server: tuple[str, Path]) -> None:
    # python-multipart refuses a part header over 4,224 bytes: 6 KB of UTF-8 in the name
    response = _raw_upload(server[0], ("深" * 2000 + ".md").encode(), b"text")
    assert response.status_code == 400 and response.json()["error"]["message"] == "Invalid multipart data."


def test_a_name_that_is_only_unsafe_characters_has_no_extension_and_is_refused(
    server: tuple[str, Path],
) -> None:
    response = _raw_upload(server[0], b"\x00\x01../", b"text")
    assert response.status_code == 415
    assert response.json()["error"]["message"].startswith("_: supported types are")
