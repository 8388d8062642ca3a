"""Relations between the names of one sentence: typed where the words between two names say how they
relate ("X works at Y", "Y was acquired by X", "X创立了Y"), else recorded as co-occurrence.

The patterns read the normalised text between two consecutive names, so a pattern is a short phrase,
not a parser; the role a relation gives its ends (a person works at an organisation) is also evidence
for the ends' types, which the extractor weighs against stronger cues.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass

from rag.common.cjk import HAN_UNIFIED_CHAR
from rag.extract.spans import NameSpan
from rag.models import CO_OCCURS, LOCATION, ORGANIZATION, PERSON


@dataclass(frozen=True, slots=True)
class _Pattern:
    """Text between two consecutive entities (and, optionally, right after the second) that types them.

    `reverse` means the second entity is the relation's source ("Y was acquired by X").
    """

    between: re.Pattern[str]
    type: str
    reverse: bool = False
    after: re.Pattern[str] | None = None


def _p(between: str, type_: str, reverse: bool = False, after: str | None = None) -> _Pattern:
    return _Pattern(re.compile(between), type_, reverse, re.compile(after) if after else None)


# A bare comma before a verb is usually an apposition whose subject lies further back ("Bank of America,
# headquartered in Charlotte, bought …"), so verbs take a comma only with a relative pronoun; participles
# and role nouns ("Initech, based in Austin", "Bob, the CEO of Acme") take it alone.
_WHO = r"(?:(?:, )?(?:who|which|that) )?(?:(?:now|currently|still|also|previously|later|has|had|have) )*"
_APPOSITION = rf"(?:, )?{_WHO}"
_CEO = r"(?:the )?(?:current |former |new )?(?:ceo|chief executive(?: officer)?)"

#: Matched against the normalised text between two entities: lower case, single spaces, ", " commas.
_PATTERNS = (
    _p(
        rf"{_WHO}(?:works?|worked|working|is working|was working|been working|is employed|was employed)"
        r" (?:at|for|with)(?: the)?",
        "works_at",
    ),
    _p(rf"{_WHO}(?:joined|joins)(?: the)?", "works_at"),
    _p(
        rf"{_WHO}(?:is |was )?(?:an? )?(?:employee|engineer|researcher|scientist|developer|analyst|manager)"
        r" (?:at|of|for|with)(?: the)?",
        "works_at",
    ),
    _p(rf"{_WHO}(?:co-?)?(?:founded|established|set up)(?: the)?", "founded"),
    _p(rf"{_APPOSITION}(?:is |was )?(?:the |a |an )?(?:co-?)?founder (?:of|at)(?: the)?", "founded"),
    _p(
        r"(?:, )?(?:(?:which|that) )?(?:is |was |were |had been |has been )?(?:co-?)?founded by",
        "founded",
        True,
    ),
    _p(r"(?:'s |’s )?(?:co-?)?founders?,?", "founded", True),
    _p(
        rf"{_APPOSITION}(?:is |are |was |were )?(?:located|based|headquartered|situated|registered)"
        r" (?:in|at)(?: the)?",
        "located_in",
    ),
    _p(rf"{_WHO}(?:its )?(?:headquarters|head office|main office) (?:is |are )?in(?: the)?", "located_in"),
    _p(
        rf"{_WHO}(?:acquired|acquires|bought|buys|purchased|took over|agreed to (?:acquire|buy)|will acquire"
        r"|is acquiring|completed (?:its |the )?acquisition of)(?: the)?",
        "acquired",
    ),
    _p(r"(?:'s |’s )acquisition of(?: the)?", "acquired"),
    _p(
        r"(?:, )?(?:(?:which|that) )?(?:was |were |has been |had been |is being )?"
        r"(?:acquired|bought|purchased|taken over) by(?: the)?",
        "acquired",
        True,
    ),
    _p(
        rf"{_APPOSITION}(?:is |was |became |becomes |serves as |served as )?{_CEO} (?:of|at)(?: the)?",
        "ceo_of",
    ),
    _p(rf"(?:'s |’s )?{_CEO},?", "ceo_of", True),
    # Chinese: the text between two entities, and what follows the second for "X在Y工作".
    _p(r"(?:的)?(?:总部)?(?:位于|坐落于|地处|设在|设于)", "located_in"),
    _p(r"(?:创立|创办|创建|成立|建立)了?", "founded"),
    _p(r"是", "founded", after=r"的?(?:创始人|创办人)"),
    _p(r"(?:的)?(?:创始人|创办人)(?:是)?", "founded", True),
    _p(r"(?:是)?由", "founded", True, after=r"(?:等人?)?(?:[于在][^，。,]{0,12})?(?:创立|创办|创建|成立)"),
    _p(r"(?:在|于)", "works_at", after=r"(?:工作|任职|任教|上班|就职)"),
    _p(r"(?:曾)?(?:就职于|任职于|供职于|加入了?|效力于)", "works_at"),
    _p(r"(?:收购了?|并购了?|买下了?)", "acquired"),
    _p(r"被", "acquired", True, after=r"(?:收购|并购)"),
    _p(r"(?:是|曾是|担任|出任|曾担任|曾任|任)", "ceo_of", after=r"的?(?:首席执行官|ceo|总裁|总经理)"),
    _p(r"的?(?:首席执行官|ceo|总裁)(?:是)?", "ceo_of", True),
)

#: One pass that rejects the text between most pairs before the patterns are tried one by one.
_ANY_PATTERN = re.compile("|".join(f"(?:{pattern.between.pattern})" for pattern in _PATTERNS))

#: What a relation says about the types of its ends, where nothing stronger did.
ROLE_TYPES = {
    "works_at": (PERSON, ORGANIZATION),
    "ceo_of": (PERSON, ORGANIZATION),
    "founded": (None, ORGANIZATION),
    "located_in": (None, LOCATION),
    "acquired": (ORGANIZATION, ORGANIZATION),
}

#: Co-occurrence pairs grow with the square of a sentence's entities; long lists add noise, not facts.
_MAX_PER_SENTENCE = 10

_SPACES = re.compile(r"\s+")
_COMMA = re.compile(r"\s*[,，]\s*")


def find_relations(text: str, found: list[NameSpan]) -> list[tuple[str, str, str]]:
    """(source key, target key, type) per sentence: typed where a pattern matches, else co-occurrence."""
    relations: dict[tuple[str, str, str], None] = {}
    by_sentence: dict[int, list[NameSpan]] = defaultdict(list)
    for f in found:
        by_sentence[f.sentence].append(f)
    for members in by_sentence.values():
        typed: set[frozenset[str]] = set()
        for first, second in itertools.pairwise(members):
            if first.key == second.key:
                continue
            type_, reverse = _typed(text, first, second)
            if type_:
                source, target = (second, first) if reverse else (first, second)
                relations[(source.key, target.key, type_)] = None
                typed.add(frozenset((first.key, second.key)))
        keys = list(dict.fromkeys(f.key for f in members))[:_MAX_PER_SENTENCE]
        for i, source in enumerate(keys):
            for target in keys[i + 1 :]:
                if frozenset((source, target)) not in typed:
                    relations[(source, target, CO_OCCURS)] = None
    return list(relations)


def _typed(text: str, first: NameSpan, second: NameSpan) -> tuple[str | None, bool]:
    if second.start - first.end > 80:
        return None, False
    between = _COMMA.sub(", ", _SPACES.sub(" ", text[first.end : second.start].lower())).strip()
    if first.type == second.type == LOCATION:
        if between == ",":
            return "located_in", False  # "Berlin, Germany"
        if not between and HAN_UNIFIED_CHAR.match(second.name):
            return "located_in", True  # "广东省深圳市"
    if not _ANY_PATTERN.fullmatch(between):
        return None, False
    for pattern in _PATTERNS:
        if pattern.between.fullmatch(between) and (
            pattern.after is None or pattern.after.match(text[second.end : second.end + 20].lower())
        ):
            return pattern.type, pattern.reverse
    return None, False
