"""One writer at a time for the embedded stores, with a message that names the holder.

The embedded engines are single-writer files; a second writer would be refused deep inside
an engine with a cryptic error, or worse. An advisory lock on the data folder, taken before
any store opens, turns that into "held by process N (command)". The kernel drops the lock
when its holder dies, so a killed ingest never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from pathlib import Path
from typing import IO

#: what `DataDirLock` writes into the lock file: "process 1234 (rag serve)"
_HOLDER = re.compile(r"process (\d+) ")


class StoreLocked(Exception):
    """Another live process holds the embedded stores for writing."""


class DataDirLock:
    """An exclusive `flock` on `<data_dir>/rag.lock`, holding the owner's pid and command."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "rag.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreLocked(
                f"the embedded stores in {self.path.parent} are in use by {holder}; "
                "wait for it to finish, stop it, or send the work to its HTTP API"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} ({' '.join(Path(a).name for a in sys.argv[:3])})")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.truncate(0)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def lock_holder(data_dir: Path) -> int | None:
    """The pid of the process that holds `<data_dir>/rag.lock` now; None when nobody holds it.

    The text of the file alone could be stale (a holder that died mid-write, a file copied with
    its folder), so a shared non-blocking `flock` first asks the kernel whether the lock is held:
    only then is the pid the file names believed. A probe that gets the lock lets go at once.
    """
    try:
        handle = (data_dir / "rag.lock").open("r")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            found = _HOLDER.match(handle.read(200))
            return int(found.group(1)) if found else None
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None
