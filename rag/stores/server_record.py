"""Where a running `rag serve` can be reached, recorded beside the data-folder lock.

While `rag serve` holds the embedded stores, every other process is locked out of them
(`rag.stores.lock`). So that `rag ingest`, `rag status`… keep working, the server writes
`<data_dir>/rag.server.json`: its URL, its pid and a fresh credential that its API accepts as the
admin. The CLI sends the work there instead (`rag.cli.remote`).

The credential grants nothing new: whoever can read the file, the same OS user, can read the
data folder itself. That holds only while the file is the server's own, so a record is trusted
only when it is owned by this user, readable by nobody else, and names the live process that
holds the lock now; anything else (a record left by a killed server, one another user could
have written or read) is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from rag.stores.lock import lock_holder

RECORD_NAME = "rag.server.json"


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """A serving process: its base URL (`http://127.0.0.1:8000`), pid and local credential."""

    url: str
    pid: int
    credential: SecretStr


def record_path(data_dir: Path) -> Path:
    return data_dir / RECORD_NAME


def write_record(data_dir: Path, url: str) -> ServerRecord:
    """Record this process as the server of `data_dir`, with a new credential: written to a
    private temporary file (0600 from its creation, never readable by others for a moment) and
    moved over any earlier record in one step, so a reader sees the old file or the new one."""
    record = ServerRecord(url, os.getpid(), SecretStr(secrets.token_urlsafe(32)))
    target = record_path(data_dir)
    temporary = target.with_name(f".{RECORD_NAME}.{record.pid}.{secrets.token_hex(4)}")
    body = {"url": record.url, "pid": record.pid, "credential": record.credential.get_secret_value()}
    descriptor = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(body, handle)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return record


def remove_record(data_dir: Path, record: ServerRecord) -> None:
    """Remove the record at shutdown, only if it is still `record` (never a newer server's)."""
    current = _read(record_path(data_dir))
    if current is not None and current.pid == record.pid and current.credential == record.credential:
        record_path(data_dir).unlink(missing_ok=True)


def running_server(data_dir: Path) -> ServerRecord | None:
    """The server that holds `data_dir` now, from its record; None when there is none to trust.

    A record whose process is gone is removed on the way (its server was killed); one that fails
    any other check is left alone and ignored.
    """
    path = record_path(data_dir)
    record = _read(path)
    if record is None:
        return None
    if not _alive(record.pid):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return record if lock_holder(data_dir) == record.pid else None


def _read(path: Path) -> ServerRecord | None:
    """The record at `path` when it is a regular file of this user that no one else may read or
    write; None otherwise, or when it cannot be parsed. The checks are made on the open file (no
    symlink followed), so what is checked is what is read."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(descriptor) as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None
        try:
            body = json.loads(handle.read(4096))
            return ServerRecord(str(body["url"]), int(body["pid"]), SecretStr(str(body["credential"])))
        except (ValueError, KeyError, TypeError):
            return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's: the owner check already refused the record
        return True
    return True
