"""Free space on the embedded stores' folders, checked before they are written.

The embedded engines (qdrant-edge, LadybugDB) map their files into memory. When the disk fills,
a write to a mapped page is not an error the engine can return: the kernel kills the process
with SIGBUS, mid-write (measured: `rag ingest` onto a full 1 MB tmpfs exits 135, "Bus error").
So the ingest checks the free space before each file and each batch of vectors, and stops with a
clear, resumable error while a margin (`RAG_MIN_FREE_MB`) is left: one `statvfs` call per folder.
Opening the stores needs room too (qdrant-edge prepares its next 32 MB write-ahead-log segment
when it opens a collection), so opening refuses below half the margin: after an ingest stopped
for want of space, `rag status` and retrieval still open the stores.
"""

from __future__ import annotations

import os
from pathlib import Path

from rag.stores.errors import DiskFull

MB = 1 << 20


def _existing(folder: Path) -> Path:
    """The folder, or its nearest existing ancestor (a store's folder is made on first write)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def require_free_space(folders: list[Path], min_free_mb: float, then: str = "run rag ingest again") -> None:
    """Raise DiskFull naming the first folder with less than `min_free_mb` free (0: never)."""
    if min_free_mb <= 0:
        return
    for folder in folders:
        stat = os.statvfs(_existing(folder))
        free = stat.f_bavail * stat.f_frsize
        if free < min_free_mb * MB:
            raise DiskFull(
                f"{folder} has {free / MB:.1f} MB free, under {min_free_mb:g} MB (RAG_MIN_FREE_MB): free "
                f"some space (or lower the setting), then {then}"
            )
