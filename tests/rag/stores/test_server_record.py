"""The record of a running `rag serve` is trusted only when it is this user's private file naming the
live process that holds the data-folder lock; anything else is ignored (rag/stores/server_record.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.stores.lock import DataDirLock, lock_holder
from rag.stores.server_record import record_path, remove_record, running_server, write_record
from tests.builders import REPO

pytestmark = pytest.mark.fast

#: a process that takes the data-folder lock, says so, and holds it until its stdin closes
_HOLDER = (
    "import sys; from pathlib import Path; from rag.stores.lock import DataDirLock; "
    "lock = DataDirLock(Path(sys.argv[1])); lock.acquire(); print('locked', flush=True); sys.stdin.read()"
)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A data folder whose lock this process holds, as `rag serve` holds its own."""
    lock = DataDirLock(tmp_path)
    lock.acquire()
    try:
        yield tmp_path
    finally:
        lock.release()


def forged(data_dir: Path, pid: int, mode: int = 0o600) -> None:
    """A record naming `pid`, as another process would have written it."""
    path = record_path(data_dir)
    path.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": pid, "credential": "c" * 43}))
    path.chmod(mode)


def test_a_record_is_private_from_its_creation_and_trusted_while_its_process_holds_the_lock(
    locked: Path,
) -> None:
    record = write_record(locked, "http://127.0.0.1:8000")
    assert stat.S_IMODE(record_path(locked).stat().st_mode) == 0o600
    assert [p.name for p in locked.iterdir() if p.name.startswith(".")] == []  # no temporary left
    found = running_server(locked)
    assert found == record and found.pid == os.getpid() and found.url == "http://127.0.0.1:8000"
    assert len(record.credential.get_secret_value()) >= 40
    assert record.credential.get_secret_value() not in repr(record)


def test_a_record_is_ignored_once_the_lock_is_free(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path)
    lock.acquire()
    write_record(tmp_path, "http://127.0.0.1:8000")
    lock.release()
    assert lock_holder(tmp_path) is None
    assert running_server(tmp_path) is None


def test_a_record_left_by_a_dead_process_is_ignored_and_removed(locked: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    forged(locked, int(gone.stdout))
    assert running_server(locked) is None
    assert not record_path(locked).exists()


def test_a_record_others_may_read_is_ignored(locked: Path) -> None:
    write_record(locked, "http://127.0.0.1:8000")
    record_path(locked).chmod(0o644)
    assert running_server(locked) is None
    record_path(locked).chmod(0o620)
    assert running_server(locked) is None


def test_a_record_of_another_user_or_behind_a_symlink_is_ignored(
    locked: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    write_record(locked, "http://127.0.0.1:8000")
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "record.json"
    record_path(locked).rename(elsewhere)
    record_path(locked).symlink_to(elsewhere)
    assert running_server(locked) is None
    record_path(locked).unlink()
    elsewhere.rename(record_path(locked))
    assert running_server(locked) is not None
    if os.getuid() != 0:
        pytest.skip("only root can give a file to another user")
    os.chown(record_path(locked), 1, 1)
    assert running_server(locked) is None


def test_a_record_whose_process_does_not_hold_the_lock_is_ignored(tmp_path: Path) -> None:
    """Another live process holds the lock: a record naming this one (alive too) is not believed;
    one naming the holder is."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert lock_holder(tmp_path) == holder.pid
        write_record(tmp_path, "http://127.0.0.1:8000")  # this process, alive, without the lock
        assert running_server(tmp_path) is None
        forged(tmp_path, holder.pid)
        found = running_server(tmp_path)
        assert found is not None and found.pid == holder.pid
    finally:
        holder.communicate(timeout=30)
    assert running_server(tmp_path) is None  # its lock went with it


def test_shutdown_removes_only_its_own_record(locked: Path) -> None:
    first = write_record(locked, "http://127.0.0.1:8000")
    second = write_record(locked, "http://127.0.0.1:8001")
    remove_record(locked, first)
    assert running_server(locked) == second
    remove_record(locked, second)
    assert not record_path(locked).exists()
