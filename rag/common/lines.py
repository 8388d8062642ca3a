"""Lines of a JSON-lines or TSV file: split at "\\n" only, the one rule every reader of such files uses.

`str.splitlines()` also splits at U+0085, U+2028, U+2029, U+000B, U+000C and U+001C-U+001E. JSON allows
the first three raw inside a string (MS MARCO passages, and so BEIR corpora, hold U+0085), so a valid
JSON-lines file read with it falls apart into lines that are "not JSON". JSON-lines and TSV end a
record at "\\n" alone; a "\\r" before it (a file written on Windows) is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator


def split_lines(text: str) -> list[str]:
    """The records of `text`, in order; a final "\\n" ends the last record rather than opening one."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number from 1, line) for each line that is not blank: what error messages name."""
    for number, line in enumerate(split_lines(text), start=1):
        if line.strip():
            yield number, line
