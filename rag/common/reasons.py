"""The one-line reason of an exception, for a log line, a ledger row or an HTTP detail.

Library messages run to many lines (SQLAlchemy appends the statement and a help link, sqlglot
draws the query with a caret), and some are empty; the first non-empty line says what went
wrong, and the exception's type name stands in when there is none, so a reason is never blank
and taking it never raises.
"""

from __future__ import annotations


def one_line(exc: BaseException, *, driver: bool = False, typed: bool = False) -> str:
    """The first non-empty line of `exc`'s message, stripped, or its type name when it has none.

    `driver=True` reads the database driver's own exception when `exc` wraps one (SQLAlchemy's
    `.orig`): its message is the server's words, without the statement SQLAlchemy adds.
    `typed=True` prefixes the type name (`"ValueError: ..."`), for a reason read without context.
    """
    source = exc.orig if driver and isinstance(getattr(exc, "orig", None), BaseException) else exc
    line = next((text.strip() for text in str(source).splitlines() if text.strip()), "")
    if not line:
        return type(source).__name__
    return f"{type(exc).__name__}: {line}" if typed else line
