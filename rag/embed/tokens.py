"""Counting tokens the way the embedding model does, or approximately without one.

Chunking (ingest) and prompt budgets (the answer flow) both measure text; they measure it with the
embedding model's own tokenizer, so the counter lives with the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rag.common.cjk import CJK

#: texts -> their token counts; one call per batch lets a Rust tokenizer work in parallel.
TokenLengths = Callable[[list[str]], list[int]]

#: The default measure without a model: one token per word, CJK character (kana and hangul included,
#: since tokenizers cut all three into about a token a character) or punctuation mark.
_APPROX_TOKEN = re.compile(rf"[{CJK}]|[^\W{CJK}]+|[^\w\s]")


def approximate_lengths(texts: list[str]) -> list[int]:
    return [len(_APPROX_TOKEN.findall(text)) for text in texts]


def token_lengths(tokenizer: Any = None) -> TokenLengths:
    """A batch token counter for `tokenizer`, never counting special tokens ([CLS], <s>...).

    Accepts a Hugging Face `tokenizers.Tokenizer`, a transformers tokenizer (a fast one is
    used through its Rust backend; truncation and padding, which the saved tokenizer may
    have on, are switched off in a copy), a function from text to tokens, or None for an
    approximation that needs no model.
    """
    if tokenizer is None:
        return approximate_lengths
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if hasattr(backend, "encode_batch") and hasattr(backend, "to_str"):
        fast = type(backend).from_str(backend.to_str())
        fast.no_truncation()
        fast.no_padding()
        return lambda texts: [len(e.ids) for e in fast.encode_batch(texts, add_special_tokens=False)]
    if hasattr(tokenizer, "tokenize"):  # a transformers tokenizer without a Rust backend
        return lambda texts: [len(tokenizer.tokenize(text)) for text in texts]
    if callable(tokenizer):
        return lambda texts: [len(tokenizer(text)) for text in texts]
    raise TypeError(f"cannot count tokens with {type(tokenizer).__name__}")
