"""The JSON-lines and TSV line rule: "\n" ends a record, nothing else does."""

from __future__ import annotations

import pytest

from rag.common.lines import numbered_lines, split_lines

pytestmark = pytest.mark.fast


def test_only_newline_ends_a_line() -> None:
    text = "a\u0085b\u2028c\u2029d\x0be\x0cf\x1cg\n"
    assert text.splitlines() != [text[:-1]]  # what went wrong before
    assert split_lines(text) == [text[:-1]]


def test_a_carriage_return_before_the_newline_is_dropped_and_no_empty_last_line() -> None:
    assert split_lines("a\r\nb\r\n") == ["a", "b"]
    assert split_lines("a\nb") == ["a", "b"]
    assert split_lines("") == []
    assert split_lines("a\r\rb\n") == ["a\r\rb"]  # a lone "\r" inside a line is the line's own


def test_numbered_lines_skip_blank_ones_but_keep_their_numbers() -> None:
    assert list(numbered_lines("x\n\n  \r\ny\u2028z\n")) == [(1, "x"), (4, "y\u2028z")]
