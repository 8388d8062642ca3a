"""Follow-ups made standalone: the cheap check, the rewrite by a real model, and every fallback."""

from __future__ import annotations

import time
from typing import Any

import pytest

from rag.answer.followup import (
    QuestionRewriter,
    Standalone,
    clean_rewrite,
    drifted,
    keep_asked_words,
    refers_back,
)
from rag.generate.client import ChatClient
from rag.generate.local import LocalChatModel
from rag.models import Turn
from tests.rag.generate import openai_server
from tests.rag.generate.openai_server import API_KEY, ChatServer

chat_server = openai_server.chat_server  # the session fixture

HISTORY = [
    Turn("user", "Who leads the Shenzhen office of Northwind Robotics?"),
    Turn("assistant", "Lena Park leads the Shenzhen office [1]."),
]
#: what retrieval searches for when the rewrite is not used: the question, then the previous one
FALLBACK = "And when did she join? Who leads the Shenzhen office of Northwind Robotics?"


@pytest.mark.fast
@pytest.mark.parametrize(
    "question",
    [
        "And when did she join?",
        "What about Berlin?",
        "How old is it?",
        "Why?",
        "Which of those is cheaper?",
        "她什么时候加入的？",
        "那上海呢？",
        "该公司成立于哪一年？",
    ],
)
def test_questions_that_refer_back_are_told_apart(question: str) -> None:
    assert refers_back(question)


@pytest.mark.fast
@pytest.mark.parametrize(
    "question",
    [
        "Who leads the Shenzhen office?",
        "When was Northwind Robotics founded?",
        "Were Scott Derrickson and Ed Wood of the same nationality?",
        "深圳办公室由谁负责？",
    ],
)
def test_standalone_questions_need_no_rewrite(question: str) -> None:
    assert not refers_back(question)


@pytest.mark.fast
def test_a_rewrite_is_read_from_its_first_line_without_labels_or_quotes() -> None:
    assert clean_rewrite('Rewritten question: "When did Lena Park join?"\nShe joined in 2019.') == (
        "When did Lena Park join?"
    )
    assert clean_rewrite("\n\n问题：她什么时候加入？") == "她什么时候加入？"


@pytest.mark.fast
def test_a_rewrite_sharing_no_word_with_the_conversation_has_drifted() -> None:
    assert drifted("The capital of France is Paris.", "And when did she join?", HISTORY)
    assert not drifted("When did Lena Park join Northwind Robotics?", "And when did she join?", HISTORY)


@pytest.mark.fast
def test_a_rewrite_that_drops_what_the_question_asks_is_searched_for_with_the_question() -> None:
    assert keep_asked_words("When was Northwind Robotics founded?", "And when was it founded?") == (
        "When was Northwind Robotics founded?"
    )
    assert keep_asked_words("Maria Keller is the CEO of Northwind Robotics.", "And when was it founded?") == (
        "And when was it founded? Maria Keller is the CEO of Northwind Robotics."
    )


def test_the_model_rewrites_a_follow_up_from_the_history(smollm2: LocalChatModel) -> None:
    rewriter = QuestionRewriter(smollm2, deadline_s=120)
    standalone = rewriter.standalone("And when did she join?", HISTORY)
    # the 135M model's rewrite is not always good, but whatever it returns shares the
    # conversation's words, or it fell back to the question with a reason
    if standalone.how == "rewritten":
        assert not drifted(standalone.question, "And when did she join?", HISTORY)
    else:
        assert standalone.how == "fallback" and standalone.reason
        assert standalone.question == FALLBACK


def test_a_standalone_question_costs_no_model_call(chat_server: ChatServer) -> None:
    before = len(chat_server.requests)
    rewriter = QuestionRewriter(ChatClient(chat_server.url, "smollm2", api_key=API_KEY, server=""))
    standalone = rewriter.standalone("When was Northwind Robotics founded?", HISTORY)
    assert standalone.how == "asked" and standalone.question == "When was Northwind Robotics founded?"
    assert len(chat_server.requests) == before


def test_a_nonsense_rewrite_falls_back_to_the_question(chat_server: ChatServer) -> None:
    chat_server.canned["rambler"] = "Bananas are yellow and grow in tropical climates."
    rewriter = QuestionRewriter(ChatClient(chat_server.url, "rambler", api_key=API_KEY, server=""))
    standalone = rewriter.standalone("And when did she join?", HISTORY)
    assert standalone.how == "fallback" and "shares no word" in (standalone.reason or "")
    assert standalone.question == FALLBACK


def test_a_server_that_is_down_costs_the_rewrite_not_the_question() -> None:
    # nothing listens on port 9 of the loopback: the connection is refused at once
    client = ChatClient("http://127.0.0.1:9/v1", "smollm2", server="", timeout=2, retries=0)
    standalone = QuestionRewriter(client, deadline_s=5).standalone("And when did she join?", HISTORY)
    assert standalone.how == "fallback" and standalone.reason
    assert standalone.question == FALLBACK


def test_a_rewrite_past_its_deadline_falls_back(chat_server: ChatServer) -> None:
    def slow(body: dict[str, Any]) -> str:
        time.sleep(2)
        return "When did Lena Park join?"

    chat_server.canned["slowpoke"] = slow
    rewriter = QuestionRewriter(
        ChatClient(chat_server.url, "slowpoke", api_key=API_KEY, server=""), deadline_s=0.3
    )
    standalone = rewriter.standalone("And when did she join?", HISTORY)
    assert standalone.how == "fallback" and "longer than 0.3 s" in (standalone.reason or "")
    assert standalone.question == FALLBACK


def test_a_rewrite_that_only_repeats_the_question_falls_back(chat_server: ChatServer) -> None:
    chat_server.canned["parrot"] = "And when did she join?"
    rewriter = QuestionRewriter(ChatClient(chat_server.url, "parrot", api_key=API_KEY, server=""))
    standalone = rewriter.standalone("And when did she join?", HISTORY)
    assert standalone.how == "fallback" and "names nothing" in (standalone.reason or "")
    assert standalone.question == FALLBACK


def test_a_good_rewrite_is_searched_for_as_written(chat_server: ChatServer) -> None:
    chat_server.canned["editor"] = "Rewritten question: When did Lena Park join Northwind Robotics?"
    rewriter = QuestionRewriter(ChatClient(chat_server.url, "editor", api_key=API_KEY, server=""))
    standalone = rewriter.standalone("And when did she join?", HISTORY)
    assert standalone == Standalone("When did Lena Park join Northwind Robotics?", "rewritten")


def test_a_rewrite_of_a_chinese_question_in_english_falls_back(chat_server: ChatServer) -> None:
    chat_server.canned["translator"] = "When did Chen Wei join the Shenzhen office?"
    rewriter = QuestionRewriter(ChatClient(chat_server.url, "translator", api_key=API_KEY, server=""))
    history = [Turn("user", "深圳办公室由谁负责？"), Turn("assistant", "深圳办公室由陈伟负责。")]
    standalone = rewriter.standalone("她什么时候加入的？", history)
    assert standalone.how == "fallback" and "language" in (standalone.reason or "")
    assert standalone.question == "她什么时候加入的？ 深圳办公室由谁负责？"
