"""Entity names: the key an entity is stored and looked up under, and the spelling it is shown by.

Ingestion (both extractors) and the graph retriever (linking a question's names) must compute the same
key for the same name, or a question would miss the entity its documents recorded; this is that rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from rag.extract.lexicon import CORPORATE_SUFFIXES, ZH_LEGAL_FORM

_DROP_IN_KEY = re.compile(r"[.'’`´\"“”]")
_SPACE_IN_KEY = re.compile(r"[^\w&]+")
_ZH_TRADE = re.compile(r"(?:科技|技术|控股)$")


def normalize_name(name: str) -> str:
    """The key an entity is stored under: case, punctuation and legal form do not make a new entity.

    "Acme Corp.", "ACME Corp" and "Acme Corporation" → "acme"; "华为技术有限公司" → "华为".
    """
    text = unicodedata.normalize("NFKC", name).casefold()
    text = _SPACE_IN_KEY.sub(" ", _DROP_IN_KEY.sub("", text))
    words = text.split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and (words[-1] in CORPORATE_SUFFIXES or words[-1] == "&"):
        words.pop()
    key = " ".join(words)
    stripped = ZH_LEGAL_FORM.sub("", key)
    if len(stripped) >= 2:
        key = stripped
        trade = _ZH_TRADE.sub("", key)
        if trade != key and len(trade) >= 2:
            key = trade
    return key


def display_name(variants: Counter[str]) -> str:
    """The most frequent spelling; on a tie mixed case over capitals ("Acme Corp" over "ACME CORP")."""
    order = {name: i for i, name in enumerate(variants)}
    return max(variants, key=lambda name: (variants[name], not name.isupper(), -order[name]))
