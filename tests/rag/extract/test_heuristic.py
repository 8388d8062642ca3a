"""The offline extractor: entities with types, merged name variants, typed and co-occurrence relations."""

from __future__ import annotations

import pytest

from rag.extract.heuristic import HeuristicExtractor
from rag.extract.names import normalize_name
from rag.models import CO_OCCURS, Chunk, GraphBatch, chunk_id, document_id, entity_id
from rag.stores.graph.cypher import batch_rows

pytestmark = pytest.mark.fast

KB = "kb"


def extract(*texts: str) -> GraphBatch:
    doc = document_id(KB, "doc.txt")
    chunks = [Chunk(chunk_id(doc, n), doc, KB, n, text, len(text.split())) for n, text in enumerate(texts)]
    return HeuristicExtractor().extract(KB, chunks)


def entities(batch: GraphBatch) -> dict[str, str]:
    return {entity.name: entity.type for entity in batch.entities}


def typed_relations(batch: GraphBatch) -> set[tuple[str, str, str]]:
    names = {entity.id: entity.name for entity in batch.entities}
    return {(names[r.source_id], r.type, names[r.target_id]) for r in batch.relations if r.type != CO_OCCURS}


def test_english_entities_are_found_with_their_types() -> None:
    batch = extract(
        "Jane Doe works at Initech. Globex Ltd is based in Berlin. Dr. Smith met officials in Paris. "
        "The University of Oxford hired Bank of America advisers."
    )
    assert entities(batch) == {
        "Jane Doe": "person",
        "Initech": "organization",
        "Globex Ltd": "organization",
        "Berlin": "location",
        "Smith": "person",
        "Paris": "location",
        "University of Oxford": "organization",
        "Bank of America": "organization",
    }


def test_plain_sentence_initial_words_are_not_entities() -> None:
    batch = extract(
        "However, the plan changed. Yesterday we met again. The results were good. Overall it worked."
    )
    assert batch.entities == []


def test_a_sentence_initial_name_counts_once_seen_mid_sentence() -> None:
    alone = extract("Initech grew fast.")
    assert alone.entities == []
    seen = extract("Initech grew fast.", "Analysts praised Initech for its results.")
    initech = entity_id(KB, "initech")
    assert {m.chunk_id for m in seen.mentions if m.entity_id == initech} == {c.id for c in seen.chunks}


def test_numbers_with_units_titles_and_shouting_are_not_entities() -> None:
    batch = extract(
        "The plant delivers 500 MW over links of 3 Gbps and 16 GB of memory.\n\n"
        "WARNING: DO NOT OPEN THE BOX.\n\nGetting Started\n\nThe CEO said nothing."
    )
    assert batch.entities == []


def test_name_variants_become_one_entity_with_a_readable_name() -> None:
    batch = extract(
        "Profits at Acme Corp. rose sharply.",
        "Analysts said ACME Corp had a strong year.",
        "Investors in Acme Corporation were pleased.",
    )
    assert [(e.id, e.name, e.type) for e in batch.entities] == [
        (entity_id(KB, "acme"), "Acme Corp", "organization")
    ]
    assert len(batch.mentions) == 3


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Acme Corp.", "acme"),
        ("ACME Corp", "acme"),
        ("Acme Corporation", "acme"),
        ("Acme, Inc.", "acme"),
        ("The Acme Group", "acme"),
        ("McDonald's", "mcdonalds"),
        ("Procter & Gamble", "procter & gamble"),
        ("华为技术有限公司", "华为"),
        ("阿里巴巴集团", "阿里巴巴"),
        ("北京大学", "北京大学"),
    ],
)
def test_normalized_names(name: str, key: str) -> None:
    assert normalize_name(name) == key


@pytest.mark.parametrize(
    ("sentence", "relation"),
    [
        ("Jane Doe works at Initech.", ("Jane Doe", "works_at", "Initech")),
        ("Later Jane Doe joined Globex Corp.", ("Jane Doe", "works_at", "Globex Corp")),
        ("Bill Gates founded Microsoft in 1975.", ("Bill Gates", "founded", "Microsoft")),
        ("Analysts say Microsoft was founded by Bill Gates.", ("Bill Gates", "founded", "Microsoft")),
        ("Today Initech is located in Austin.", ("Initech", "located_in", "Austin")),
        ("Shares of Initech, based in Austin, rose.", ("Initech", "located_in", "Austin")),
        ("Last year Acme Corp acquired Globex Ltd.", ("Acme Corp", "acquired", "Globex Ltd")),
        ("Last year Globex Ltd was acquired by Acme Corp.", ("Acme Corp", "acquired", "Globex Ltd")),
        ("Today Tim Cook is the CEO of Apple Inc.", ("Tim Cook", "ceo_of", "Apple Inc")),
        ("Reporters asked Acme CEO Bob Smith.", ("Bob Smith", "ceo_of", "Acme")),
        ("They met in Berlin, Germany.", ("Berlin", "located_in", "Germany")),
    ],
)
def test_verb_patterns_type_relations(sentence: str, relation: tuple[str, str, str]) -> None:
    assert typed_relations(extract(sentence)) == {relation}


def test_relations_take_the_types_they_imply() -> None:
    assert entities(extract("Later Kim Lee worked for Zentrix.")) == {
        "Kim Lee": "person",
        "Zentrix": "organization",
    }


def test_entities_of_one_sentence_co_occur_and_of_two_do_not() -> None:
    batch = extract("Yesterday Initech and Globex signed a deal with Umbrella. Separately Acme hired staff.")
    names = {entity.id: entity.name for entity in batch.entities}
    pairs = {frozenset((names[r.source_id], names[r.target_id])) for r in batch.relations}
    assert {r.type for r in batch.relations} == {CO_OCCURS}
    assert pairs == {
        frozenset(("Initech", "Globex")),
        frozenset(("Initech", "Umbrella")),
        frozenset(("Globex", "Umbrella")),
    }


def test_chinese_entities_and_relations() -> None:
    batch = extract("马云创立了阿里巴巴集团。腾讯公司总部位于深圳。张伟在北京大学工作。腾讯收购了搜狗。")
    types = entities(batch)
    assert types["马云"] == "person"
    assert types["阿里巴巴集团"] == "organization"
    assert types["深圳"] == "location"
    assert types["北京大学"] == "organization"
    assert types["张伟"] == "person"
    assert typed_relations(batch) == {
        ("马云", "founded", "阿里巴巴集团"),
        ("腾讯公司", "located_in", "深圳"),
        ("张伟", "works_at", "北京大学"),
        ("腾讯公司", "acquired", "搜狗"),
    }


def test_chinese_company_names_merge_across_legal_forms() -> None:
    batch = extract("华为技术有限公司发布了新手机。", "记者采访了华为公司的员工。")
    huawei = [entity for entity in batch.entities if entity.id == entity_id(KB, "华为")]
    assert len(huawei) == 1
    assert huawei[0].type == "organization"
    assert {m.chunk_id for m in batch.mentions if m.entity_id == huawei[0].id} == {c.id for c in batch.chunks}


def test_the_batch_satisfies_the_graph_store_contract() -> None:
    batch = extract(
        "Jane Doe works at Initech in Austin. Initech acquired Globex Ltd.",
        "马云创立了阿里巴巴集团，总部位于杭州。",
        "",
    )
    rows = batch_rows(batch)
    assert len(rows.chunks) == 3
    assert rows.entities and rows.mentions and rows.relations


def test_wrapped_lines_stay_one_sentence_and_list_items_do_not() -> None:
    batch = extract(
        "Acme Corp is based\nin Berlin today.\n- Globex Ltd supplies parts\n- Umbrella Corp buys them"
    )
    assert typed_relations(batch) == {("Acme Corp", "located_in", "Berlin")}
    names = {entity.id: entity.name for entity in batch.entities}
    assert all({names[r.source_id], names[r.target_id]} <= {"Acme Corp", "Berlin"} for r in batch.relations)
