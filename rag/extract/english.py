"""English names: runs of capitalised words, cut at stop words and titles, typed by cue and word list.

It runs over every chunk ingested, so it is regular expressions and set lookups, not a model, and it
favours precision: a word that only shows a capital because it opens a sentence is marked `initial`,
for the extractor to keep only when the batch also shows it capitalised mid-sentence.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from rag.extract.lexicon import (
    GIVEN_NAMES,
    LOCATION_HEADS,
    LOCATION_WORDS,
    NAME_HEADS,
    ORG_HEADS,
    ORG_WORDS,
    PLACES,
    STOP,
    TITLES,
)
from rag.extract.names import normalize_name
from rag.extract.spans import CUE, GUESS, LEXICON, PROSE_WORD, NameSpan
from rag.models import LOCATION, ORGANIZATION, OTHER, PERSON

_UPPER = "A-ZÀ-ÖØ-Þ"
_LATIN = "A-Za-zÀ-ÖØ-öø-ÿ0-9"
_WORD = rf"[{_UPPER}][{_LATIN}&'’\-]*"
_CONNECTOR = r"(?:of|for|&|de|du|des|da|di|del|della|van|von|der|den|la|le|y)"
#: A run of capitalised words on one line, joined by spaces or by connectors ("Bank of America").
_SPAN = re.compile(rf"(?<![{_LATIN}&'’\-]){_WORD}(?:[ \t]+(?:{_CONNECTOR}[ \t]+)?{_WORD})*")
_TOKEN = re.compile(r"\S+")
_OPENING_HEAD = re.compile(r"(\S+)[ \t]+(?:of|for|de|du|des|da|di|del|della|van|von|der|den|la|le|y)[ \t]+")
_ALNUM = re.compile(r"[^\W_]")
_NUMBER_BEFORE = re.compile(r"(?<![\d.,])(?:\d{1,3}(?:[.,]\d+)*|\d+\.\d+)\s*$")
_TITLE_BEFORE = re.compile(r"(?:^|[^a-z])(?:mr|mrs|ms|dr|prof|sir|dame)\.?\s+$")
_PERSON_AFTER = re.compile(
    r"\s*(?:,\s*who\b|,\s*aged?\s+\d|said\b|says\b|told\b|explained\b|added\b|wrote\b)"
)


def find_english(text: str, starts: list[int]) -> list[NameSpan]:
    """Every English name in `text`, in order; `starts` are its `sentence_starts`."""
    found: list[NameSpan] = []
    shapes: dict[int, str] = {}
    for span in _SPAN.finditer(text):
        sentence = bisect_right(starts, span.start()) - 1
        if sentence not in shapes:
            shapes[sentence] = _shape(text, starts, sentence)
        if shapes[sentence] == "shouting":
            continue
        for piece_start, end, title in _split_span(text, span.start(), span.end()):
            start, opens = piece_start, not _ALNUM.search(text, starts[sentence], piece_start)
            if (
                opens
                and (head := _OPENING_HEAD.match(text, start, end))
                and head[1].lower() not in NAME_HEADS
            ):
                start, opens = head.end(), False  # "Shares of Initech" opening a sentence is "Initech"
            name = text[start:end]
            words = name.split()
            if len(words) == 1 and _NUMBER_BEFORE.search(text[max(0, start - 12) : start]):
                continue  # a unit: "500 MW", "3 Gbps"
            type_, weight = _english_type(text, start, end, words, title)
            if shapes[sentence] == "heading":
                initial = True  # in "Getting Started" every word is capitalised
            else:
                # Multi-word names, acronyms and cue-typed names are evidence enough at a sentence start.
                strong = len(words) > 1 or name.isupper() or weight >= LEXICON
                initial = opens and not strong
            found.append(NameSpan(start, end, name, normalize_name(name), type_, weight, sentence, initial))
    return found


def _split_span(text: str, start: int, end: int) -> list[tuple[int, int, bool]]:
    """Cut a capitalised run at stop words and titles: "Yesterday CEO Jane Doe" → "Jane Doe" (titled).

    Yields (start, end, preceded by a title) for each remaining piece of one to six words.
    """
    pieces: list[tuple[int, int, bool]] = []
    piece_start = piece_end = -1
    title = False
    for token in _TOKEN.finditer(text, start, end):
        word = token.group()
        if word.endswith(("'s", "’s")):
            word = word[:-2]
        if not word[0].isupper():
            # A connector inside a name ("Bank of America", "Procter & Gamble") or after a title word.
            title = title and piece_start >= 0
            continue
        lower = word.lower()
        if lower in STOP or len(word) < 2:
            if piece_start >= 0:
                pieces.append((piece_start, piece_end, title))
                piece_start = -1
            title = lower in TITLES
            continue
        if piece_start < 0:
            piece_start = token.start()
        piece_end = token.start() + len(word.rstrip("-&'’"))
    if piece_start >= 0:
        pieces.append((piece_start, piece_end, title))
    return [(s, e, t) for s, e, t in pieces if len(text[s:e].split()) <= 6 and text[s:e][-1].isalnum()]


def _shape(text: str, starts: list[int], sentence: int) -> str:
    """How far capitals mean names in a sentence.

    "shouting": mostly capitals ("WARNING: DO NOT OPEN"), every word would pass for an acronym;
    "heading": no prose word and no sentence end ("Getting Started"), every word is capitalised;
    "prose": capitals carry meaning.
    """
    end = starts[sentence + 1] if sentence + 1 < len(starts) else len(text)
    part = text[starts[sentence] : end].strip()
    if PROSE_WORD.search(part):
        return "prose"
    if sum(map(str.isupper, part)) > sum(map(str.islower, part)):
        return "shouting"
    if part.endswith((".", "!", "?", ":", ";", "。", "！", "？")):
        return "prose"
    return "heading"


def _english_type(text: str, start: int, end: int, words: list[str], title: bool) -> tuple[str, int]:
    lower = [w.lower().rstrip(".") for w in words]
    if title or _TITLE_BEFORE.search(text[max(0, start - 8) : start].lower()):
        return PERSON, CUE
    if lower[-1] in ORG_WORDS or (len(lower) > 1 and lower[0] in ORG_HEADS):
        return ORGANIZATION, CUE
    if " ".join(lower) in PLACES:
        return LOCATION, LEXICON
    if len(lower) > 1 and (lower[-1] in LOCATION_WORDS or lower[0] in LOCATION_HEADS):
        return LOCATION, CUE
    if 2 <= len(lower) <= 3 and lower[0] in GIVEN_NAMES:
        return PERSON, LEXICON
    if _PERSON_AFTER.match(text, end):
        return PERSON, GUESS
    return OTHER, 0
