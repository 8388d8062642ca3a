"""The LLM extractor's plumbing: replies become graph keys shared with the heuristic extractor, malformed
replies are retried once then skipped, answers are cached on disk, an unreachable model stops the run.

Fixed replies come from a real OpenAI-compatible server on 127.0.0.1 configured per model name (a server
misbehaving deterministically); SmolLM2 generates for real where only the plumbing is judged, since a
135M model extracts too unreliably to assert what it finds.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rag.extract.heuristic import HeuristicExtractor
from rag.extract.llm import LLMExtractor, parse_reply
from rag.extract.names import normalize_name
from rag.generate import ModelUnavailable
from rag.generate.client import ChatClient
from rag.generate.local import LocalChatModel
from rag.models import Chunk, GraphBatch, chunk_id, document_id, entity_id
from rag.stores.graph.cypher import batch_rows
from tests.rag.generate import openai_server
from tests.rag.generate.openai_server import API_KEY, ChatServer

chat_server = openai_server.chat_server  # the session fixture

KB = "kb"
TEXT = "Jane Doe works at ACME Corp. ACME Corp is located in Berlin."
REPLY = {
    "entities": [
        {"name": "Jane Doe", "type": "person"},
        {"name": "ACME Corp", "type": "organization"},
        {"name": "Berlin", "type": "location"},
    ],
    "relations": [
        {"source": "Jane Doe", "target": "ACME Corp", "type": "works_at"},
        {"source": "ACME Corp", "target": "Berlin", "type": "located_in"},
    ],
}


def chunks(*texts: str) -> list[Chunk]:
    doc = document_id(KB, "doc.txt")
    return [Chunk(chunk_id(doc, n), doc, KB, n, text, len(text.split())) for n, text in enumerate(texts)]


def served(server: ChatServer, model: str, reply: str) -> ChatClient:
    server.canned[model] = reply
    return ChatClient(server.url, model, api_key=API_KEY, server="")


def facts(batch: GraphBatch) -> set[tuple[str, str, str]]:
    names = {entity.id: entity.name for entity in batch.entities}
    return {(names[r.source_id], r.type, names[r.target_id]) for r in batch.relations}


def test_a_valid_reply_becomes_entities_and_relations_under_the_heuristic_keys(
    chat_server: ChatServer, tmp_path: Path
) -> None:
    reply = f"Here is the graph:\n```json\n{json.dumps(REPLY)}\n```"
    extractor = LLMExtractor(served(chat_server, "fixed-graph", reply), tmp_path)
    batch = extractor.extract(KB, chunks(TEXT))

    assert {(e.name, e.type) for e in batch.entities} == {
        ("Jane Doe", "person"),
        ("ACME Corp", "organization"),
        ("Berlin", "location"),
    }
    assert {e.id for e in batch.entities} == {entity_id(KB, k) for k in ("jane doe", "acme", "berlin")}
    assert {e.id for e in batch.entities} == {
        e.id for e in HeuristicExtractor().extract(KB, chunks(TEXT)).entities
    }
    assert facts(batch) == {("Jane Doe", "works_at", "ACME Corp"), ("ACME Corp", "located_in", "Berlin")}
    assert len(batch.mentions) == 3
    batch_rows(batch)  # the graph store's rule: every mention and relation points into the batch
    sent = chat_server.asked("fixed-graph")[0]
    assert sent["temperature"] == 0.0
    assert sent["response_format"] == {"type": "json_object"}
    assert TEXT in sent["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("model", "reply", "reason"),
    [
        ("no-json", "Entities: Jane Doe (person), Acme Corp. (company)", "the reply holds no JSON object"),
        ("bad-schema", '{"entities": "Jane Doe", "relations": []}', "entities: Input should be a valid"),
        ("trailing-comma", '{"entities": [{"name": "Jane Doe"},]}', "reply: Invalid JSON"),
    ],
)
def test_a_malformed_reply_is_retried_once_then_the_chunk_is_skipped_with_a_warning(
    chat_server: ChatServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    model: str,
    reply: str,
    reason: str,
) -> None:
    extractor = LLMExtractor(served(chat_server, model, reply), tmp_path)
    given = chunks(TEXT)
    with caplog.at_level(logging.WARNING, logger="rag.extract.llm"):
        batch = extractor.extract(KB, given)

    assert batch.chunks == given
    assert batch.entities == batch.mentions == batch.relations == []
    first, retry = chat_server.asked(model)
    assert retry["messages"][: len(first["messages"])] == first["messages"]
    assert retry["messages"][-2] == {"role": "assistant", "content": reply}
    assert reason in retry["messages"][-1]["content"]
    [record] = [r for r in caplog.records if "llm_extract_skipped" in r.getMessage()]
    assert f"chunk={given[0].id}" in record.getMessage()
    assert "attempts=2" in record.getMessage()
    assert "Jane Doe" not in record.getMessage()  # no document text in logs


def test_answers_are_cached_so_a_second_run_does_not_ask_the_model(
    chat_server: ChatServer, tmp_path: Path
) -> None:
    texts = (TEXT, "Nothing here.", TEXT)  # the same text twice is asked once
    first = LLMExtractor(served(chat_server, "cached", json.dumps(REPLY)), tmp_path, concurrency=2)
    batch = first.extract(KB, chunks(*texts))
    assert len(chat_server.asked("cached")) == 2
    assert len(batch.mentions) == 6

    again = LLMExtractor(served(chat_server, "cached", json.dumps(REPLY)), tmp_path)  # a later run
    assert again.extract(KB, chunks(*texts)) == batch
    assert len(chat_server.asked("cached")) == 2
    other = LLMExtractor(served(chat_server, "another-model", json.dumps(REPLY)), tmp_path)
    other.extract(KB, chunks(TEXT))
    assert len(chat_server.asked("another-model")) == 1  # another model's answers are its own


def test_a_request_the_server_refuses_is_skipped_and_asked_again_next_time(
    chat_server: ChatServer, tmp_path: Path
) -> None:
    too_long = chunks("word " * 9000)
    extractor = LLMExtractor(ChatClient(chat_server.url, "smollm2", api_key=API_KEY, server=""), tmp_path)
    before = len(chat_server.asked("smollm2"))
    assert extractor.extract(KB, too_long).entities == []
    assert extractor.extract(KB, too_long).entities == []
    assert len(chat_server.asked("smollm2")) == before + 2  # refused once per run, never retried or cached


def test_an_unreachable_model_stops_the_extraction_instead_of_recording_empty_graphs(
    tmp_path: Path,
) -> None:
    down = ChatClient("http://127.0.0.1:9/v1", "m", server="", retries=0)
    with pytest.raises(ModelUnavailable, match=r"127\.0\.0\.1:9"):
        LLMExtractor(down, tmp_path).extract(KB, chunks(TEXT))


def test_the_small_model_really_extracting_yields_a_batch_the_graph_store_accepts(
    smollm2: LocalChatModel, tmp_path: Path
) -> None:
    given = chunks("Marie Curie worked at the University of Paris.")
    batch = LLMExtractor(smollm2, tmp_path, max_tokens=16).extract(KB, given)
    assert batch.chunks == given
    batch_rows(batch)
    for entity in batch.entities:
        assert entity.name.casefold() in given[0].text.casefold()
        assert entity.id == entity_id(KB, normalize_name(entity.name))
    # answered from the cache, valid or skipped alike: a model that cannot answer is never asked
    assert LLMExtractor(_Mute(smollm2), tmp_path, max_tokens=16).extract(KB, given) == batch


class _Mute:
    """The same model by name (so the same cache keys), but any request to it fails the test."""

    def __init__(self, model: LocalChatModel) -> None:
        self.name, self.description = model.name, model.description

    def complete(self, *_args: object, **_kwargs: object) -> str:
        raise AssertionError("the cache should have answered")

    stream = complete

    def close(self) -> None: ...


def test_reasoning_and_fences_around_the_json_are_tolerated() -> None:
    reply = '<think>{"entities": "no"}</think>```json\n{"entities": [{"name": "X"}]}\n```'
    assert [e.name for e in parse_reply(reply).entities] == ["X"]
