"""`find_mentions`: the names of one text with their spans, as the graph retriever links a question."""

from __future__ import annotations

import pytest

from rag.extract.heuristic import HeuristicExtractor, find_mentions
from rag.extract.names import normalize_name
from rag.models import Chunk

pytestmark = pytest.mark.fast


def spans(text: str) -> list[tuple[str, str, str]]:
    found = find_mentions(text)
    assert all(text[m.start : m.end] == m.name and m.key == normalize_name(m.name) for m in found)
    return [(m.name, m.key, m.type) for m in found]


def test_each_name_comes_with_its_span_key_and_type() -> None:
    assert spans("Who founded Acme Corp. in Berlin?") == [
        ("Acme Corp", "acme", "organization"),
        ("Berlin", "berlin", "location"),
    ]


def test_every_occurrence_is_found_in_order_where_it_lies() -> None:
    # "Australia" lies inside "Australian" too; its span is its own occurrence, not the first match.
    text = "Which Australian senator served Australia, and when did ACME CORP buy Acme Corp?"
    found = find_mentions(text)
    assert [(m.start, m.name) for m in found] == [
        (6, "Australian"),
        (32, "Australia"),
        (56, "ACME CORP"),
        (70, "Acme Corp"),
    ]
    assert found[2].key == found[3].key == "acme"


def test_a_sentence_initial_word_counts_only_when_the_text_shows_it_mid_sentence() -> None:
    assert find_mentions("Initech grew fast.") == []
    assert spans("Initech grew. Analysts praised Initech.") == [
        ("Initech", "initech", "other"),
        ("Initech", "initech", "other"),
    ]


def test_chinese_names_are_cut_by_jieba_with_their_legal_form() -> None:
    assert spans("马云创立了阿里巴巴集团，总部位于杭州。") == [
        ("马云", "马云", "person"),
        ("阿里巴巴集团", "阿里巴巴", "organization"),
        ("杭州", "杭州", "location"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Jane Doe, the CEO of Acme, met Dr. Smith in Paris. Acme Corp. is based in Berlin.",
        "Yesterday CEO Jane Doe said Globex Ltd bought Initech. However, Initech declined.",
        "华为技术有限公司的总部位于深圳市。任正非创办了华为。",
    ],
)
def test_the_keys_are_those_the_extractor_records_for_the_same_text(text: str) -> None:
    batch = HeuristicExtractor().extract("kb", [Chunk("c", "d", "kb", 0, text, 0)])
    assert list(dict.fromkeys(m.key for m in find_mentions(text))) == [
        normalize_name(entity.name) for entity in batch.entities
    ]
