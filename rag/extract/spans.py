"""What the finders share: one occurrence of a name in a text, how much its evidence weighs, and where
the text's sentences begin.

The English and Chinese finders produce `NameSpan`s, the relation finder pairs them within a sentence,
the extractor votes on types with their weights, and the graph retriever links a question by them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: How much one occurrence's evidence counts when an entity's type is decided over a batch.
#: A cue in the text (legal form, title) beats a word list, which beats a guess (jieba's dictionary
#: tags are dated and noisy: it tags 华为 as a person) or the role in a relation.
CUE, LEXICON, GUESS = 3, 2, 1

#: A run of four lower-case letters: prose, as opposed to a heading, a label or a table row.
PROSE_WORD = re.compile(r"(?<![A-Za-z])[a-z]{4,}")
_ABBREVIATION_END = re.compile(
    r"(?:^|[^A-Za-z])(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|Mt|Ft|No|Gen|Col|Lt|Sgt|Capt|Rev|Hon|[A-Z])$"
)
#: Candidate sentence ends: punctuation, paragraph breaks, list items, and any other line break ("wrap",
#: which `sentence_starts` weighs).
_BOUNDARY = re.compile(
    r"[.!?]+[\"'”’)\]]*(?=\s)|[。！？；]|\n\s*\n|\n(?=[ \t]*(?:[-*•·#>|]|\d+[.)]\s))|(?P<wrap>\n)"
)
_LOWER_NEXT = re.compile(r"\s+[a-z]")


@dataclass(slots=True)
class NameSpan:
    """One occurrence of a name: `text[start:end]` is `name`, and `key` its `normalize_name`.

    `type` is what this occurrence alone shows; the extractor decides an entity's type by weighing
    every occurrence of its key in a batch.
    """

    start: int
    end: int
    name: str
    key: str
    type: str
    #: CUE, LEXICON or GUESS: how sure `type` is
    weight: int
    #: index of its sentence in `sentence_starts(text)`
    sentence: int
    #: opens its sentence, so its capital letter proves nothing
    initial: bool


def sentence_starts(text: str) -> list[int]:
    """Offsets where sentences begin.

    A period ends no sentence after "Dr." or an initial, nor before a lower-case word ("Acme Corp. is");
    a line break ends one only after a line without prose (a heading, a label, a table row), since in
    extracted PDF text most line breaks are wrapping.
    """
    starts = [0]
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        mark = match.group()
        if mark.startswith("."):
            if _ABBREVIATION_END.search(text[max(0, match.start() - 5) : match.start()]):
                continue
            if _LOWER_NEXT.match(text, end):
                continue
        elif match.lastgroup == "wrap" and PROSE_WORD.search(
            text, text.rfind("\n", 0, match.start()) + 1, match.start()
        ):
            continue
        starts.append(end)
    return starts
