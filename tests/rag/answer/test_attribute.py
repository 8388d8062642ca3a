"""Citations that always point somewhere: the model's markers kept, or sentences attributed."""

from __future__ import annotations

import pytest

from rag.answer.attribute import ground, sentences
from rag.models import Citation

pytestmark = pytest.mark.fast

SOURCES = [
    "Northwind Robotics was founded in 2014 in Oslo by Mara Lind.",
    "The Shenzhen office is led by Lena Park, who joined in 2019.",
    "The Pallet Mover costs 12,000 euros and lifts two tonnes.",
    "Support tickets are answered within one business day.",
]
MIN_SUPPORT = 0.5


def citations() -> list[Citation]:
    return [
        Citation(
            n=n,
            kind="chunk",
            source=f"doc{n}.md",
            document_id=f"d{n}",
            chunk_id=f"c{n}",
            retrievers=[],
            text=t,
        )
        for n, t in enumerate(SOURCES, start=1)
    ]


def test_written_markers_that_name_a_source_are_kept() -> None:
    given = citations()
    result = ground("Lena Park leads it [2].", "Who leads the Shenzhen office?", given, MIN_SUPPORT)
    assert [(c.n, c.how) for c in given if c.cited] == [(2, "written")]
    assert result.unsupported == []


def test_an_answer_with_no_marker_is_attributed_sentence_by_sentence() -> None:
    given = citations()
    answer = (
        "Northwind Robotics was founded in 2014. Lena Park leads the Shenzhen office. It has a rooftop pool."
    )
    result = ground(answer, "Tell me about Northwind", given, MIN_SUPPORT)
    cited = {c.n: (c.how, c.sentences) for c in given if c.cited}
    assert cited == {1: ("attributed", [0]), 2: ("attributed", [1])}
    assert result.unsupported == ["It has a rooftop pool."]


def test_a_marker_naming_no_source_is_replaced_by_attribution() -> None:
    given = citations()
    result = ground(
        "The Pallet Mover costs 12,000 euros [9].", "What does the Pallet Mover cost?", given, MIN_SUPPORT
    )
    assert [(c.n, c.how) for c in given if c.cited] == [(3, "attributed")]
    assert result.unsupported == []


def test_a_short_answer_is_read_with_its_question() -> None:
    given = citations()
    ground("2019.", "When did Lena Park join the Shenzhen office?", given, MIN_SUPPORT)
    assert [c.n for c in given if c.cited] == [2]


def test_chinese_sentences_are_attributed_on_segmented_words() -> None:
    given = [
        Citation(
            n=1,
            kind="chunk",
            source="a.txt",
            document_id="a",
            chunk_id="a",
            retrievers=[],
            text="深圳办公室由李娜负责，她于二零一九年加入公司。",
        ),
        Citation(
            n=2,
            kind="chunk",
            source="b.txt",
            document_id="b",
            chunk_id="b",
            retrievers=[],
            text="上海办公室位于浦东新区。",
        ),
    ]
    result = ground("深圳办公室由李娜负责。", "深圳办公室由谁负责？", given, MIN_SUPPORT)
    assert [c.n for c in given if c.cited] == [1] and result.unsupported == []


def test_sentences_keep_their_markers_and_split_on_chinese_stops() -> None:
    assert sentences("It was 2014 [1]. It is in Oslo [1][2]!\n它在深圳。") == [
        "It was 2014 [1].",
        "It is in Oslo [1][2]!",
        "它在深圳。",
    ]


def test_a_sentence_supported_by_the_end_of_a_long_source_is_attributed_to_it() -> None:
    """Every word of a source counts, not only its first few dozen (the search cap of a question)."""
    filler = " ".join(f"word{i}" for i in range(60))
    given = citations()
    given[2].text = f"{filler}. The Pallet Mover costs 12,000 euros and lifts two tonnes."
    result = ground("The Pallet Mover lifts two tonnes.", "What does it lift?", given, MIN_SUPPORT)
    assert [(c.n, c.how) for c in given if c.cited] == [(3, "attributed")]
    assert result.unsupported == []
