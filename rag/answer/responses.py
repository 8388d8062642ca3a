"""The JSON shapes of a retrieval and of an answer, shared by the CLI and the HTTP API."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rag.answer.context import fact_sentence
from rag.common.markup import quoted
from rag.models import Answer, Citation, SourceFailure
from rag.retrieve.fused import Retrieval


def failures_json(failed: list[SourceFailure]) -> list[dict[str, str]]:
    return [{"source": f.source, "reason": f.reason} for f in failed]


def retrieval_json(
    question: str, kb: str, found: Retrieval, retrieval_question: str | None = None
) -> dict[str, Any]:
    """Fused hits with each retriever's rank and score, the graph facts and the SQL results;
    `retrieval_question` is what was searched for when it differs (a follow-up's rewrite)."""
    hits = [
        {
            "rank": rank,
            "score": round(item.score, 6),
            "chunk_id": item.hit.chunk_id,
            "document_id": item.hit.document_id,
            "source": item.hit.source,
            "text": quoted(item.hit.text),
            "retrievers": {
                name: {"rank": item.ranks[name], "score": item.scores[name]} for name in item.ranks
            },
            **({"rerank_score": item.scores["rerank"]} if "rerank" in item.scores else {}),
        }
        for rank, item in enumerate(found.hits, start=1)
    ]
    return {
        "question": question,
        "retrieval_question": retrieval_question or question,
        "kb": kb,
        "hits": hits,
        "facts": [
            {"fact": quoted(fact_sentence(fact)), "chunk_id": fact.chunk_id, "hops": fact.hops}
            for fact in found.facts
        ],
        "tables": [
            {"sql": t.sql, "columns": t.columns, "rows": [list(row) for row in t.rows], "sources": t.sources}
            for t in found.tables
        ],
        "sources_failed": failures_json(found.failed),
        "timings_ms": found.timings_ms,
    }


def shown_citations(answer: Answer) -> list[Citation]:
    """The sources an answer refers to (written or attributed); when it refers to none, every
    source it was given, so a reader still sees what it was answered from."""
    return [c for c in answer.citations if c.cited] or answer.citations


def answer_json(answer: Answer) -> dict[str, Any]:
    """`{answer, citations, …}`: citations are the sources the answer refers to, each saying `how`
    ("written" by the model or "attributed" to its sentences); when no source supports it, every
    source it was given, with `how` null. `unsupported` lists the sentences no source supports,
    `abstained` why the answer is "the KB does not say" (null when it is not)."""
    cited = shown_citations(answer)
    return {
        "question": answer.question,
        "retrieval_question": answer.retrieval_question or answer.question,
        "kb": answer.kb,
        "answer": answer.answer,
        "citations": [{**asdict(c), "text": quoted(c.text)} for c in cited],
        "unsupported": answer.unsupported,
        "abstained": answer.abstained.value if answer.abstained else None,
        "sources_failed": failures_json(answer.sources_failed),
        "timings": answer.timings_ms,
    }


def turn_json(answer: Answer) -> dict[str, Any]:
    """What a stored conversation keeps of an answer (`SqlStore.append_turn`'s fields), in the
    shapes `answer_json` shows them, so a turn read back reads like the answer did."""
    shown = answer_json(answer)
    return {key: shown[key] for key in ("question", "retrieval_question", "answer", "citations", "abstained")}
