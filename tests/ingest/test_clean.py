"""Text normalisation before chunking."""

from __future__ import annotations

import pytest

from ingest.clean import clean_sections, clean_text
from ingest.loaders.base import Section

pytestmark = pytest.mark.fast


def test_line_ends_become_newlines() -> None:
    assert clean_text("a\r\nb\rc\fd\u2028e") == "a\nb\nc\nd\ne"


def test_invisible_characters_are_removed() -> None:
    assert clean_text("\ufeffzero\u200bwidth\u00adsoft\x00nul\x07bell\x9fc1") == "zerowidthsoftnulbellc1"


def test_tabs_and_newlines_survive() -> None:
    assert clean_text("name\tvalue\nnext") == "name\tvalue\nnext"


def test_unicode_spaces_and_runs_of_spaces_collapse() -> None:
    assert clean_text("a\u00a0\u00a0b  \t c\u3000d") == "a b c d"


def test_blank_line_runs_collapse_to_one_and_trailing_spaces_go() -> None:
    assert clean_text("  para one   \n \n\n\n\t\npara two  ") == "para one\n\npara two"


def test_pdf_ligatures_are_spelled_out() -> None:
    assert clean_text("ﬁnance and ﬂow") == "finance and flow"


def test_chinese_full_width_punctuation_is_kept() -> None:
    text = "深圳，位于南方！对吗？是的；（括号）"
    assert clean_text(text) == text


def test_clean_sections_keeps_metadata_and_drops_empty_sections() -> None:
    sections = [Section(" \u200b \n", {"page": 1}), Section("text\r\n", {"page": 2})]
    assert list(clean_sections(sections)) == [Section("text", {"page": 2})]
