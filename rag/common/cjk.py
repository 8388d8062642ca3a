"""Chinese, Japanese and Korean text: the character ranges, and the one jieba every layer shares.

Ingestion (the keyword index, entity extraction), retrieval (question segmentation, graph linking),
token counting and answer scoring all need to know which characters are CJK, and three of them cut
Chinese with jieba. The ranges are named for what they cover, because the sites need different ones on
purpose: segmentation cares about Han ideographs only (jieba cuts nothing else), while token counting
and answer scoring treat every CJK character, kana and hangul included, as a word of its own.

jieba's dictionary takes about a second to load and its part-of-speech table as much again, so each
loads once per process, on first use, however many threads ask at the same time.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TypeVar

#: CJK Unified Ideographs, the block jieba's own Han pattern (U+4E00–U+9FD5) and dictionary cover.
HAN_UNIFIED = "\u4e00-\u9fff"
#: Han ideographs: the unified block, Extension A (rare characters) and the compatibility ideographs.
HAN = "\u3400-\u4dbf" + HAN_UNIFIED + "\uf900-\ufaff"
#: Japanese hiragana and katakana.
KANA = "\u3040-\u30ff"
#: Precomposed Korean syllables.
HANGUL = "\uac00-\ud7af"
#: Every character written without spaces between words: Han, kana and hangul.
CJK = HAN + KANA + HANGUL

#: One Han ideograph (any block): text that needs segmenting before a whitespace tokenizer reads it.
HAN_CHAR = re.compile(f"[{HAN}]")
#: One ideograph of the unified block only: what the entity extractor reads as Chinese. Narrower than
#: HAN on purpose, since jieba's dictionary and tags hold words of this block and nothing else.
HAN_UNIFIED_CHAR = re.compile(f"[{HAN_UNIFIED}]")


def has_han(text: str) -> bool:
    """Whether `text` holds a Han ideograph, so that jieba must cut it into words."""
    return HAN_CHAR.search(text) is not None


_T = TypeVar("_T")


def _once(load: Callable[[], _T]) -> Callable[[], _T]:
    """`load`, run at most once however many threads call at the same time; later calls take no lock."""
    lock = threading.Lock()
    loaded: list[_T] = []

    @functools.wraps(load)
    def get() -> _T:
        if not loaded:
            with lock:
                if not loaded:
                    loaded.append(load())
        return loaded[0]

    return get


@_once
def load_jieba() -> ModuleType:
    """The `jieba` module, its dictionary loaded: `cut` and `cut_for_search` are ready.

    jieba logs its dictionary loading at DEBUG to stderr on first use; only its warnings and errors
    (a cache file it cannot write) are let through.
    """
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@_once
def jieba_word_tags() -> Mapping[str, str]:
    """The part-of-speech tag of each word of jieba's dictionary (`jieba.posseg`'s table: nr a person,
    ns a place, nt an organisation...). Loaded apart from the segmenter, since only entity extraction
    needs it and it costs as much again."""
    load_jieba()
    import jieba.posseg

    return jieba.posseg.dt.word_tag_tab
