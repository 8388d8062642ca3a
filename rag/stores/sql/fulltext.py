"""Text for the keyword index: Chinese has no spaces, so CJK runs are segmented with jieba.

Both PostgreSQL's and SQLite's tokenizers split on whitespace and punctuation; a Chinese
sentence would otherwise index as one giant token that no query matches.
"""

from __future__ import annotations

from rag.common.cjk import has_han, load_jieba


def search_text(text: str) -> str | None:
    """The segmented form to index, or None when the text has no Han ideograph (the index reads
    `text`). Han only, not kana or hangul: jieba is a Chinese segmenter."""
    if not has_han(text):
        return None
    return " ".join(token for token in load_jieba().cut_for_search(text) if not token.isspace())
