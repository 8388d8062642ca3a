"""The CJK ranges and the shared jieba: which characters each range covers, and one load per process."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest

from rag.common import cjk
from rag.common.cjk import CJK, HAN, HAN_UNIFIED_CHAR, has_han, jieba_word_tags, load_jieba

pytestmark = pytest.mark.fast

UNIFIED, EXTENSION_A, COMPATIBILITY = "\u4e2d", "\u3400", "\uf900"  # 中, 㐀 and 豈
HIRAGANA, KATAKANA, HANGUL = "の", "カ", "한"


def test_han_covers_every_ideograph_block_and_nothing_else() -> None:
    for char in (UNIFIED, EXTENSION_A, COMPATIBILITY):
        assert has_han(f"abc {char} def")
        assert re.fullmatch(f"[{HAN}]", char)
    for text in ("", "plain text", HIRAGANA, KATAKANA, HANGUL, "Ünïcödé ½ —"):
        assert not has_han(text)


def test_the_extractor_range_is_the_unified_block_alone() -> None:
    assert HAN_UNIFIED_CHAR.match(UNIFIED)
    assert not HAN_UNIFIED_CHAR.match(EXTENSION_A)
    assert not HAN_UNIFIED_CHAR.match(COMPATIBILITY)


def test_cjk_adds_kana_and_hangul_to_han() -> None:
    for char in (UNIFIED, EXTENSION_A, COMPATIBILITY, HIRAGANA, KATAKANA, HANGUL):
        assert re.fullmatch(f"[{CJK}]", char)
    assert not re.search(f"[{CJK}]", "Latin, Ελληνικά, кириллица, 123")


def test_jieba_loads_once_quietly_and_cuts_chinese() -> None:
    jieba = load_jieba()
    assert load_jieba() is jieba
    assert "清华大学" in list(jieba.cut("我来到北京清华大学"))
    assert logging.getLogger("jieba").level == logging.WARNING  # no dictionary-loading chatter
    tags = jieba_word_tags()
    assert jieba_word_tags() is tags
    assert tags["北京"] == "ns"


def test_a_loader_runs_once_however_many_threads_ask_at_once() -> None:
    calls: list[int] = []

    @cjk._once
    def slow() -> object:
        calls.append(1)
        time.sleep(0.05)  # long enough for every thread to arrive while the first loads
        return object()

    results: list[object] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        results.append(slow())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(results) == 8 and all(result is results[0] for result in results)
