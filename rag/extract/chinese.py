"""Chinese names: jieba's words, typed by its dictionary's part-of-speech tags and by legal forms.

Chinese has no capitals, so the segmenter proposes the words and the dictionary says which are names.
Segmentation with jieba's fast HMM plus a tag lookup runs ~10x faster than `jieba.posseg.cut`, whose
joint HMM dominates its cost; words missing from the dictionary get tags from surname and suffix rules.
"""

from __future__ import annotations

from bisect import bisect_right

from rag.common.cjk import HAN_UNIFIED_CHAR, jieba_word_tags, load_jieba
from rag.extract.lexicon import (
    ZH_GENERIC,
    ZH_LEGAL_FORM,
    ZH_LOCATION_END,
    ZH_ORG_SUFFIX,
    ZH_PREPOSITIONS,
    ZH_SURNAMES,
)
from rag.extract.names import normalize_name
from rag.extract.spans import CUE, GUESS, NameSpan
from rag.models import LOCATION, ORGANIZATION, OTHER, PERSON

#: The types of jieba's proper-noun tags: nr a person (nrfg too), ns a place, nt an organisation,
#: nz and nrt (a transliterated name) other proper nouns.
_TAG_TYPES = {"nr": PERSON, "nrfg": PERSON, "nrt": OTHER, "ns": LOCATION, "nt": ORGANIZATION, "nz": OTHER}


def find_chinese(text: str, starts: list[int]) -> list[NameSpan]:
    """Every Chinese name in `text`, in order; `starts` are its `sentence_starts`. Only words of the
    unified Han block count: that is the block jieba's dictionary covers."""
    tags = jieba_word_tags()
    tokens: list[tuple[int, str]] = []
    offset = 0
    for token in load_jieba().cut(text):
        tokens.append((offset, token))
        offset += len(token)
    found: list[NameSpan] = []
    index = 0
    while index < len(tokens):
        start, token = tokens[index]
        index += 1
        if len(token) < 2 or not HAN_UNIFIED_CHAR.match(token):
            continue
        tag = tags.get(token)
        if tag is None:
            token, start, tag = _guess_unknown(token, start)
        type_ = _TAG_TYPES.get(tag or "")
        weight = CUE if type_ == ORGANIZATION and ZH_LEGAL_FORM.search(token) else GUESS
        end = start + len(token)
        if type_ or token not in ZH_GENERIC:
            # The legal form after a name makes it an organisation: "小米" + "公司", "阿里巴巴" + "集团".
            while index < len(tokens) and (suffix := ZH_ORG_SUFFIX.match(tokens[index][1])):
                end = tokens[index][0] + suffix.end()
                type_, weight = ORGANIZATION, CUE
                if suffix.end() < len(tokens[index][1]):
                    break
                index += 1
        if type_ is None:
            continue
        name = text[start:end]
        sentence = bisect_right(starts, start) - 1
        found.append(NameSpan(start, end, name, normalize_name(name), type_, weight, sentence, False))
    return found


def _guess_unknown(token: str, start: int) -> tuple[str, int, str | None]:
    """A word missing from jieba's dictionary (found by its HMM): a name by its surname, a place or an
    organisation by its last characters. A leading preposition the HMM glued on ("由马云") is cut off.
    """
    if len(token) > 2 and token[0] in ZH_PREPOSITIONS:
        token, start = token[1:], start + 1
    if 2 <= len(token) <= 3 and token[0] in ZH_SURNAMES:
        return token, start, "nr"
    if token[-1] in ZH_LOCATION_END:
        return token, start, "ns"
    return token, start, None
