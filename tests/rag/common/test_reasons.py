"""One-line reasons: the first line that says something, never blank, never raising."""

from __future__ import annotations

import sqlalchemy as sa

from rag.common.reasons import one_line


def test_the_first_non_empty_line_stripped() -> None:
    assert one_line(ValueError("\n  bad input  \nsecond line")) == "bad input"
    assert one_line(ValueError("only")) == "only"


def test_an_empty_message_gives_the_type_name() -> None:
    assert one_line(ValueError()) == "ValueError"
    assert one_line(ValueError("")) == "ValueError"
    assert one_line(RuntimeError(" \n\t\n")) == "RuntimeError"


def test_typed_prefixes_the_type_name_once() -> None:
    assert one_line(ValueError("boom\nmore"), typed=True) == "ValueError: boom"
    assert one_line(TimeoutError("late"), typed=True) == "TimeoutError: late"
    assert one_line(TimeoutError(), typed=True) == "TimeoutError"


def test_driver_reads_the_wrapped_driver_error_without_the_statement() -> None:
    engine = sa.create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT * FROM missing"))
    except sa.exc.OperationalError as exc:
        assert one_line(exc, driver=True) == "no such table: missing"
        assert one_line(exc).startswith("(sqlite3.OperationalError) no such table: missing")
    wrapped = sa.exc.OperationalError("SELECT 1", {}, Exception(""))
    assert one_line(wrapped, driver=True) == "Exception"
    assert one_line(sa.exc.OperationalError("SELECT 1", {}, None), driver=True).startswith("(")
