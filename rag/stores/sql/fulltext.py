"""Text for the keyword index: Chinese has no spaces, so CJK runs are segmented with jieba.

Both PostgreSQL's and SQLite's tokenizers split on whitespace and punctuation; a Chinese
sentence would otherwise index as one giant token that no query matches.
"""

from __future__ import annotations

import re
from functools import cache

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


@cache
def _jieba():
    import jieba

    jieba.setLogLevel(60)  # it logs its dictionary loading at INFO on first use
    return jieba


def search_text(text: str) -> str | None:
    """The segmented form to index, or None when the text has no CJK (the index reads `text`)."""
    if not has_cjk(text):
        return None
    return " ".join(token for token in _jieba().cut_for_search(text) if not token.isspace())
