"""The LLM reranker against a real OpenAI-compatible server: llama.cpp's, over the packaged SmolLM2.

SmolLM2-135M cannot judge relevance (its grades of these passages are close to noise), so the tests
over it check what is deterministic: every candidate gets exactly the grade the server gives its
prompt when asked alone (the expected grade from `logprobs`, which llama.cpp returns), the order
follows those grades (ties and unparsed replies by fused rank), the bound, the fallback without
logprobs, and the deadline. Whether a relevant passage rises is checked with the 0.5B evaluation
model (`sql_model`, fetched into the cache), which tells these passages apart through its logprobs.
The server fixtures (tests/rag/conftest.py) skip with the reason when llama.cpp's server cannot run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.answer.pipeline import open_reranker
from rag.config import Settings
from rag.generate.client import ChatClient
from rag.generate.local import LocalChatModel
from rag.models import Hit, SourceFailure
from rag.retrieve.fuse import FusedHit
from rag.retrieve.rerank import RERANK, CrossEncoderReranker, RerankerError
from rag.retrieve.rerank_llm import (
    MAX_REPLY_TOKENS,
    SOURCE,
    TOP_LOGPROBS,
    LLMReranker,
    expected_grade,
    parse_grade,
)
from rag.retrieve.rerank_prompts import rerank_messages
from tests.rag.conftest import llama_cpp_server
from tests.servers import free_port

QUESTION = "Which volcano is the most active in Europe?"
TEXTS = [
    "The Glacier Express crosses the Alps in eight hours.",
    "Mount Etna on Sicily is the most active volcano in Europe.",
    "Zymurgy studies fermentation in brewing.",
    "Stromboli has erupted almost continuously for two thousand years.",
    "Paris is the capital of France.",
]


def fused(texts: list[str] = TEXTS) -> list[FusedHit]:
    hits = [
        Hit(f"c{r}", f"d{r}", "kb", text, f"doc{r}.md", 1.0, "vector", r) for r, text in enumerate(texts, 1)
    ]
    return [FusedHit(hit, 1.0 / (60 + hit.rank), {"vector": hit.rank}, {"vector": 1.0}) for hit in hits]


@pytest.fixture
def chat(smollm2_server: str) -> Iterator[ChatClient]:
    client = ChatClient(smollm2_server, "smollm2", timeout=60)
    yield client
    client.close()


# ------------------------------------------------------------------------------------ pure logic
@pytest.mark.fast
@pytest.mark.parametrize(
    ("reply", "grade"),
    [
        *[("3", 3.0), (" **2**", 2.0), ("Grade: 1", 1.0), ("2/3", 2.0), ("1.5", 1.5), ("0 = no", 0.0)],
        *[("On a scale of 0-3: 2", 2.0), ("7", None), ("10", None), ("", None), ("The answer is", None)],
    ],
)
def test_a_grade_is_read_from_the_reply_or_not_at_all(reply: str, grade: float | None) -> None:
    assert parse_grade(reply) == grade


@pytest.mark.fast
def test_the_expected_grade_is_read_at_the_token_that_wrote_the_grade() -> None:
    tokens = [{" ": -0.1, "The": -3.0}, {"2": -0.5, "3": -1.2, "0": -2.0, "x": -0.9}]
    p = {2: 0.6065, 3: 0.3012, 0: 0.1353}
    assert expected_grade(tokens, " 2") == pytest.approx((2 * p[2] + 3 * p[3]) / sum(p.values()), abs=1e-3)
    assert expected_grade([], "2") is None  # no logprobs: the caller parses the reply
    assert expected_grade(tokens, "no grade") is None
    assert expected_grade([{"1": -0.1, "3": -2.0}, {"0": -0.1}], "10") is None  # "10" is no grade


@pytest.mark.fast
def test_the_llm_reranker_refuses_the_in_process_model_and_auto_keeps_the_old_setting() -> None:
    with pytest.raises(RerankerError, match="RAG_LLM_URL is empty"):
        open_reranker(Settings(reranker="llm"))
    assert open_reranker(Settings()) is None
    assert isinstance(open_reranker(Settings(reranker_model="/models/ce")), CrossEncoderReranker)
    assert open_reranker(Settings(reranker="none", reranker_model="/models/ce")) is None
    llm = open_reranker(Settings(reranker="llm", llm_url="http://127.0.0.1:9/v1", rerank_candidates=7))
    assert isinstance(llm, LLMReranker) and llm.candidates == 7


# --------------------------------------------------------------------- against llama.cpp's server
def test_every_candidate_gets_the_servers_grade_and_the_order_follows_it(chat: ChatClient) -> None:
    expected: list[float | None] = []
    for text in TEXTS:
        reply, tokens = chat.complete_logprobs(
            rerank_messages(QUESTION, text), max_tokens=MAX_REPLY_TOKENS, top_logprobs=TOP_LOGPROBS
        )
        assert tokens, "llama.cpp returns logprobs: the continuous score is what is tested"
        grade = expected_grade(tokens, reply)
        expected.append(grade if grade is not None else parse_grade(reply))
    scored = {i: grade for i, grade in enumerate(expected) if grade is not None}
    assert len(scored) >= 3, expected  # with the prompt's two examples, SmolLM2 mostly writes a digit
    failed: list[SourceFailure] = []
    reranked = LLMReranker(chat, candidates=len(TEXTS)).rerank(QUESTION, fused(), len(TEXTS), failed)
    assert not failed
    order = list(range(len(TEXTS)))  # unparsed replies keep their fused place
    for place, i in zip(scored, sorted(scored, key=lambda i: (-scored[i], i)), strict=True):
        order[place] = i
    assert [item.hit.text for item in reranked] == [TEXTS[i] for i in order]
    for item in reranked:
        grade = expected[TEXTS.index(item.hit.text)]
        assert item.scores.get(RERANK) == (None if grade is None else pytest.approx(grade, abs=1e-3))
        assert item.ranks["vector"] == item.hit.rank  # the fusion's evidence stays visible


def test_only_the_first_candidates_are_graded_and_the_rest_follow_in_fused_order(chat: ChatClient) -> None:
    reranked = LLMReranker(chat, candidates=3).rerank(QUESTION, fused(), top_k=4)
    assert len(reranked) == 4
    assert {item.hit.rank for item in reranked[:3]} == {1, 2, 3}
    assert reranked[3].hit.rank == 4 and RERANK not in reranked[3].scores


def test_without_logprobs_the_parsed_digit_is_the_score(chat: ChatClient) -> None:
    reranked = LLMReranker(chat, candidates=len(TEXTS), logprobs=False).rerank(QUESTION, fused(), len(TEXTS))
    scores = [item.scores[RERANK] for item in reranked if RERANK in item.scores]
    assert scores and all(score in (0.0, 1.0, 2.0, 3.0) for score in scores)


def test_a_deadline_too_short_keeps_the_fused_order_and_reports_it(chat: ChatClient) -> None:
    failed: list[SourceFailure] = []
    reranked = LLMReranker(chat, deadline_s=0.001).rerank(QUESTION, fused(), 3, failed)
    assert [item.hit.rank for item in reranked] == [1, 2, 3]
    assert all(RERANK not in item.scores for item in reranked)
    assert failed == [SourceFailure(SOURCE, "timed out after 0.001 s: fused order kept")]


def test_an_unreachable_server_keeps_the_fused_order_and_names_the_reason() -> None:
    client = ChatClient(f"http://127.0.0.1:{free_port()}/v1", "smollm2", timeout=5, retries=0)
    failed: list[SourceFailure] = []
    reranked = LLMReranker(client).rerank(QUESTION, fused(), 5, failed)
    assert [item.hit.rank for item in reranked] == [1, 2, 3, 4, 5]
    assert len(failed) == 1 and failed[0].source == SOURCE
    assert failed[0].reason.startswith("5 of 5 passages not graded: ModelUnavailable")


# ----------------------------------------------------------- relevance, with the 0.5B evaluation model
@pytest.fixture(scope="module")
def qwen_server(sql_model: LocalChatModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llamacpp-qwen") / "server.log"
    with llama_cpp_server(Path(sql_model.source.path), "qwen", log) as url:
        yield url


@pytest.mark.slow
def test_the_relevant_passages_rise_above_the_unrelated_ones(qwen_server: str) -> None:
    client = ChatClient(qwen_server, "qwen", timeout=60)
    try:
        reranker = LLMReranker(client, candidates=len(TEXTS), deadline_s=240)  # a shared CPU is slow
        reranked = reranker.rerank(QUESTION, fused(), len(TEXTS))
    finally:
        client.close()
    assert {item.hit.text for item in reranked[:2]} == {TEXTS[1], TEXTS[3]}  # the two volcanoes
    assert all(RERANK in item.scores for item in reranked)
