"""Find the files to ingest under the paths a user gave, with include/exclude globs.

Hidden files and folders (a leading dot: `.git`, `.DS_Store`) are skipped while walking; a
file named explicitly is always taken. Inside folders only supported formats are taken,
so a folder of mixed files just works.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Sequence
from pathlib import Path


class PathNotFound(Exception):
    """A path the user named does not exist (a usage error, not a failed document)."""


def _matches(relative: str, patterns: Sequence[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)


def walk(
    paths: Sequence[Path],
    extensions: Sequence[str],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Iterator[Path]:
    """Resolved paths of the files to ingest, each once, in a stable order.

    `include` globs (if any) must match a file's path relative to the folder walked, or its
    name; `exclude` globs drop matches (and whole folders whose relative path matches).
    """
    suffixes = {e.lower() for e in extensions}
    seen: set[Path] = set()
    for given in paths:
        root = given.expanduser()
        if not root.exists():
            raise PathNotFound(f"no such file or folder: {given}")
        root = root.resolve()
        if root.is_file():
            if root not in seen:
                seen.add(root)
                yield root
            continue
        for folder, dirs, files in os.walk(root):
            base = Path(folder)
            rel_base = base.relative_to(root).as_posix()
            dirs[:] = sorted(
                d
                for d in dirs
                if not d.startswith(".") and not _matches(f"{rel_base}/{d}".removeprefix("./"), exclude)
            )
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = base / name
                relative = path.relative_to(root).as_posix()
                if path.suffix.lower() not in suffixes or (include and not _matches(relative, include)):
                    continue
                if _matches(relative, exclude) or path in seen or not path.is_file():
                    continue
                seen.add(path)
                yield path
