"""Find the files to ingest under the paths a user gave, with include/exclude globs.

Hidden files and folders (a leading dot: `.git`, `.DS_Store`) are skipped while walking; a
file named explicitly is always taken. Inside folders only supported formats are taken,
so a folder of mixed files just works.

A path that cannot be a document's source is refused, not walked: bytes that are not UTF-8
(Python reads them as lone surrogates, which no store can write: one such name stopped the whole
run with a traceback) or control characters (a newline or an escape code would forge log lines
and redraw the terminal wherever the source is shown). The caller reports each with its reason.

Symbolic links inside a walked folder are never followed. One that leads out of the folder (to
`/etc/passwd`, to a home directory) is refused and reported like a bad name: following it would
ingest, and serve to anyone who may query the knowledge base, a file the user never chose. One
that stays inside is skipped without a word: its target is walked in its own right, so following
it would only store the same text twice under two names (a target in a hidden or excluded folder
stays out, as the user asked). Never following a link also means a loop cannot hang the walk.
"""

from __future__ import annotations

import fnmatch
import os
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path


class PathNotFound(Exception):
    """A path the user named does not exist (a usage error, not a failed document)."""


def name_problem(path: Path) -> str | None:
    """Why `path` cannot be stored as a document's source, or None when it can."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8; rename the file"
    if any(unicodedata.category(char) == "Cc" for char in text):
        return "the file name holds control characters (a newline, an escape code); rename the file"
    return None


def printable(path: Path) -> str:
    """`path` with what `name_problem` refuses escaped (`\\x1b`, `\\udce9`), to show it safely."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in str(path))


def link_problem(link: Path, root: Path) -> str | None:
    """Why the symbolic link `link`, met while walking `root`, is refused: it leads out of `root`.
    None for a link that stays inside (skipped, not refused). `os.path.realpath` follows the
    whole chain without raising on a loop (a loop resolves to somewhere inside, or fails to)."""
    target = Path(os.path.realpath(link))
    if target == root or target.is_relative_to(root):
        return None
    return f"a symbolic link out of the folder walked (to {printable(target)}); not followed"


def _matches(relative: str, patterns: Sequence[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)


def walk(
    paths: Sequence[Path],
    extensions: Sequence[str],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    refused: list[tuple[str, str]] | None = None,
) -> Iterator[Path]:
    """Resolved paths of the files to ingest, each once, in a stable order.

    `include` globs (if any) must match a file's path relative to the folder walked, or its
    name; `exclude` globs drop matches (and whole folders whose relative path matches). A file
    whose path `name_problem` refuses is not yielded but added to `refused` as (its printable
    path, the reason), and so is a symbolic link out of the folder walked (`link_problem`);
    links that stay inside are skipped.
    """

    def storable(path: Path) -> bool:
        problem = name_problem(path)
        if problem is not None and refused is not None:
            refused.append((printable(path), problem))
        return problem is None

    def refuse_link(link: Path, root: Path) -> None:
        problem = link_problem(link, root)
        if problem is not None and refused is not None:
            refused.append((printable(link), problem))

    suffixes = {e.lower() for e in extensions}
    seen: set[Path] = set()
    for given in paths:
        root = given.expanduser()
        if not root.exists():
            raise PathNotFound(f"no such file or folder: {given}")
        root = root.resolve()
        if root.is_file():
            if root not in seen and storable(root):
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
            for name in dirs:  # os.walk lists a link to a folder here and does not descend into it
                if (base / name).is_symlink():
                    refuse_link(base / name, root)
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = base / name
                relative = path.relative_to(root).as_posix()
                if path.suffix.lower() not in suffixes or (include and not _matches(relative, include)):
                    continue
                if _matches(relative, exclude) or path in seen:
                    continue
                if path.is_symlink():
                    seen.add(path)
                    refuse_link(path, root)
                    continue
                if not path.is_file():
                    continue
                seen.add(path)
                if storable(path):
                    yield path
