"""The JSON shapes of a retrieval and of an answer, shared by the CLI and the HTTP API."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rag.answer.context import fact_sentence
from rag.models import Answer, SourceFailure
from rag.retrieve.fused import Retrieval


def failures_json(failed: list[SourceFailure]) -> list[dict[str, str]]:
    return [{"source": f.source, "reason": f.reason} for f in failed]


def retrieval_json(question: str, kb: str, found: Retrieval) -> dict[str, Any]:
    """Fused hits with each retriever's rank and score, the graph facts and the SQL results."""
    hits = [
        {
            "rank": rank,
            "score": round(item.score, 6),
            "chunk_id": item.hit.chunk_id,
            "document_id": item.hit.document_id,
            "source": item.hit.source,
            "text": item.hit.text,
            "retrievers": {
                name: {"rank": item.ranks[name], "score": item.scores[name]} for name in item.ranks
            },
            **({"rerank_score": item.scores["rerank"]} if "rerank" in item.scores else {}),
        }
        for rank, item in enumerate(found.hits, start=1)
    ]
    return {
        "question": question,
        "kb": kb,
        "hits": hits,
        "facts": [
            {"fact": fact_sentence(fact), "chunk_id": fact.chunk_id, "hops": fact.hops}
            for fact in found.facts
        ],
        "tables": [
            {"sql": t.sql, "columns": t.columns, "rows": [list(row) for row in t.rows], "sources": t.sources}
            for t in found.tables
        ],
        "sources_failed": failures_json(found.failed),
        "timings_ms": found.timings_ms,
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    """`{answer, citations, sources_failed, timings}`: citations are the sources the answer refers
    to; when it refers to none (small models often don't), every source it was given, uncited."""
    cited = [c for c in answer.citations if c.cited] or answer.citations
    return {
        "question": answer.question,
        "kb": answer.kb,
        "answer": answer.answer,
        "citations": [asdict(c) for c in cited],
        "sources_failed": failures_json(answer.sources_failed),
        "timings": answer.timings_ms,
    }
