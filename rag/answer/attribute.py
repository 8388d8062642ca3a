"""Citations that always point somewhere: keep the model's `[n]`, or attribute its sentences.

Small local models often write a right answer with no `[n]` at all, or cite `[9]` of four
sources. Listing every source as "given, not cited" then tells a reader nothing. So when the
answer holds no marker that names a real source, each sentence is attributed to the source that
supports it best: the share of the sentence's content words (tokenized like the keyword index,
so Chinese is segmented) that the source contains. A source reaching `min_support` (a setting)
is cited as "attributed", for the sentences it supports; a sentence that no source reaches is
listed as unsupported, which is what a reader most needs to know about an answer. A sentence
too short to say anything on its own ("Yes.") is read together with the question it answers.

Lexical support is deliberate: it is cheap (no model call after the answer), it works the same
with every embedding model, and a sentence whose words are not in a source is not quoting it,
however close the meaning. Where two sources support a sentence almost equally, the earlier
(better-ranked) one wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.models import Citation
from rag.retrieve.keyword import content_terms

_CITED = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
#: Sentence ends in English and Chinese; a marker such as `[2]` stays with its sentence.
_SENTENCE = re.compile(r"[^.!?。！？;；\n]+(?:[.!?。！？;；]+(?:\s*\[[\d,;\s]+\])*|$)")
#: Fewer content words than this, and a sentence is read together with the question.
SHORT_SENTENCE = 2
#: Supports within this much of the best one count as a tie, which the better-ranked source wins.
TIE = 0.05


@dataclass(frozen=True, slots=True)
class Attribution:
    """What `attribute` decided: which sentences no source supports."""

    unsupported: list[str]


def written_numbers(answer: str) -> set[int]:
    """The numbers the answer cites, as `[2]`, `[1, 3]` or `[1][3]`."""
    return {int(n) for group in _CITED.findall(answer) for n in re.split(r"\s*[,;]\s*", group)}


def sentences(answer: str) -> list[str]:
    """The answer's sentences, stripped, with their markers; empty pieces dropped."""
    return [piece.strip() for piece in _SENTENCE.findall(answer) if piece.strip()]


def support(sentence_terms: set[str], source_terms: set[str]) -> float:
    """Share of the sentence's content words the source holds, in [0, 1]."""
    return len(sentence_terms & source_terms) / len(sentence_terms) if sentence_terms else 0.0


def mark_written(answer: str, citations: list[Citation]) -> bool:
    """Mark the citations the answer's markers name as written; whether any marker named one."""
    used = written_numbers(answer)
    for citation in citations:
        citation.cited = citation.n in used
        citation.how = "written" if citation.cited else None
    return any(citation.cited for citation in citations)


def attribute(answer: str, question: str, citations: list[Citation], min_support: float) -> Attribution:
    """Mark as attributed the sources that best support each sentence of an answer that cites
    none itself; the sentences no source supports are returned."""
    source_terms = [set(content_terms(citation.text)) for citation in citations]
    question_terms = set(content_terms(question))
    unsupported: list[str] = []
    for index, sentence in enumerate(sentences(answer)):
        terms = set(content_terms(_CITED.sub("", sentence)))
        if len(terms) < SHORT_SENTENCE:
            terms |= question_terms
        if not terms:
            continue
        scores = [support(terms, held) for held in source_terms]
        best = max(scores, default=0.0)
        if best < min_support:
            unsupported.append(sentence)
            continue
        chosen = next(i for i, score in enumerate(scores) if score >= best - TIE)
        citations[chosen].cited = True
        citations[chosen].how = "attributed"
        citations[chosen].sentences.append(index)
    return Attribution(unsupported)


def ground(answer: str, question: str, citations: list[Citation], min_support: float) -> Attribution:
    """Keep the model's own markers when one names a real source; otherwise attribute."""
    if mark_written(answer, citations):
        return Attribution([])
    return attribute(answer, question, citations, min_support)
