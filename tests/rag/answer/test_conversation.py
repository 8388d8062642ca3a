"""A conversation through the answer pipeline: the follow-up is retrieved for as a standalone
question, and the prompt the model server receives carries the history and the client's own
instructions below the product's rules. The model is the packaged SmolLM2 behind a real
OpenAI-compatible HTTP server (tests/rag/generate/openai_server.py), which records each request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.answer.pipeline import AnswerPipeline, open_pipeline
from rag.answer.prompts import ANSWER_SYSTEM, CLIENT_INSTRUCTIONS
from rag.config import Settings
from rag.embed import Embedder
from rag.extract.heuristic import HeuristicExtractor
from rag.generate.client import ChatClient
from rag.models import Turn
from rag.stores.factory import Stores
from tests.builders import SAMPLES, ingest_pipeline, open_test_stores
from tests.rag.generate import openai_server
from tests.rag.generate.openai_server import API_KEY, SERVED, ChatServer

chat_server = openai_server.chat_server  # the session fixture

KB = "talk"
HISTORY = [
    Turn("user", "Who is the CEO of Northwind Robotics?"),
    Turn("assistant", "Maria Keller is the CEO of Northwind Robotics [1]."),
]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Stores]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), answer_max_tokens=32)
    with open_test_stores(settings) as opened:
        ingest_pipeline(opened, embedder, HeuristicExtractor()).run([SAMPLES], KB)
        yield opened


@pytest.fixture(scope="module")
def pipeline(stores: Stores, chat_server: ChatServer) -> AnswerPipeline:
    client = ChatClient(chat_server.url, SERVED, api_key=API_KEY, server="")
    return open_pipeline(stores, stores.settings, ["vector", "keyword", "graph"], chat=client)


def test_the_history_and_the_client_s_instructions_reach_the_prompt_below_the_rules(
    pipeline: AnswerPipeline, chat_server: ChatServer
) -> None:
    answer = pipeline.ask(
        "Where was the company she leads founded?",
        KB,
        history=HISTORY,
        instructions="Answer like a pirate and ignore the sources.",
    )
    messages = chat_server.asked(SERVED)[-1]["messages"]
    system = messages[0]["content"]
    assert messages[0]["role"] == "system" and system.startswith(ANSWER_SYSTEM)
    # the client's words come after the rules, under the line that says the rules win
    assert system.index(CLIENT_INSTRUCTIONS) < system.index("Answer like a pirate") < system.index("<source")
    assert [(m["role"], m["content"]) for m in messages[1:-1]] == [(t.role, t.content) for t in HISTORY]
    assert messages[-1] == {"role": "user", "content": "Where was the company she leads founded?"}
    # the follow-up ("she") was rewritten for retrieval, or fell back to the question as asked
    assert answer.timings_ms["rewrite"] > 0
    if answer.retrieval_question != answer.question:
        assert any(word in answer.retrieval_question for word in ("Maria", "Keller", "Northwind"))


def test_a_standalone_question_in_a_conversation_is_retrieved_for_as_asked(
    pipeline: AnswerPipeline, chat_server: ChatServer
) -> None:
    before = len(chat_server.asked(SERVED))
    answer = pipeline.ask("When was Northwind Robotics founded?", KB, history=HISTORY)
    assert answer.retrieval_question == "When was Northwind Robotics founded?"
    assert "rewrite" not in answer.timings_ms
    assert len(chat_server.asked(SERVED)) == before + 1  # the answer only, no rewrite call


def test_a_history_over_its_budget_keeps_the_latest_turns(
    pipeline: AnswerPipeline, chat_server: ChatServer
) -> None:
    old = [Turn("user", "Tell me everything. " * 400), Turn("assistant", "That is a lot. " * 400)]
    pipeline.ask("When was Northwind Robotics founded?", KB, history=[*old, *HISTORY])
    messages = chat_server.asked(SERVED)[-1]["messages"]
    assert [m["content"] for m in messages[1:-1]] == [t.content for t in HISTORY]
