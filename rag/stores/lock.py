"""One writer at a time for the embedded stores, with a message that names the holder.

The embedded engines are single-writer files; a second writer would be refused deep inside
an engine with a cryptic error, or worse. An advisory lock on the data folder, taken before
any store opens, turns that into "held by process N (command)". The kernel drops the lock
when its holder dies, so a killed ingest never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import IO


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
