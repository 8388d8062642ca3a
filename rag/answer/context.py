"""Turn what the retrievers found into numbered prompt sources, each kind within its own token budget.

SQL results come first (computed for this very question), then the graph's typed facts (short,
and the links a multi-hop question needs), then chunks in fused order. Each kind has its own budget, so a
wide result table cannot push every passage out, nor many passages the one number that answers.
Every source becomes a `Citation` with the same number, so `[n]` in the answer maps back to a
document, a chunk, the retrievers that found it and, for a table, the query that computed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from rag.answer.prompts import Source
from rag.embed import TokenLengths
from rag.models import CO_OCCURS, Citation, Fact, TableResult
from rag.retrieve.fuse import FusedHit
from rag.retrieve.sql_exec import rows_as_markdown

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Budgets:
    """Tokens of the prompt each kind of source may fill."""

    chunks: int
    tables: int
    facts: int


def fact_sentence(fact: Fact) -> str:
    """ "Alice Moreau works at Vantor Labs.": a relation read as plain words, which small models
    understand better than arrows."""
    return f"{fact.source} {fact.relation.replace('_', ' ')} {fact.target}."


def table_text(result: TableResult, rows: int) -> str:
    names = ", ".join(Path(source).name for source in result.sources) or "the knowledge base's tables"
    table = rows_as_markdown(result.columns, result.rows[:rows])
    return f"Result of the SQL query {result.sql} over {names}:\n{table}"


def build_context(
    hits: list[FusedHit],
    tables: list[TableResult],
    facts: list[Fact],
    budgets: Budgets,
    count_tokens: TokenLengths,
) -> tuple[list[Source], list[Citation]]:
    """The numbered sources for the prompt and their citations, in the same order."""
    sources: list[Source] = []
    citations: list[Citation] = []

    def add(title: str, text: str, citation: Citation) -> None:
        sources.append(Source(len(sources) + 1, title, text))
        citation.n = len(sources)
        citations.append(citation)

    left = budgets.tables
    for result in tables:
        rows = len(result.rows)
        text = table_text(result, rows)
        while rows > 0 and count_tokens([text])[0] > left:  # fewer rows rather than no table
            rows -= 1
            text = table_text(result, rows)
        if rows == 0 and result.rows:
            continue
        left -= count_tokens([text])[0]
        title = "SQL result from " + (", ".join(Path(s).name for s in result.sources) or "tables")
        add(
            title,
            text,
            Citation(
                n=0,
                kind="table",
                source=", ".join(result.sources),
                document_id=result.document_ids[0] if len(result.document_ids) == 1 else None,
                chunk_id=None,
                retrievers=["sql"],
                text=text,
                sql=result.sql,
            ),
        )

    # "A related_to B" only records two names in one sentence: it links entities for the graph
    # walk, but in a prompt it says less than the chunk it came from and misleads small models
    typed = [fact for fact in facts if fact.relation != CO_OCCURS]
    kept = _within(typed, [fact_sentence(fact) for fact in typed], budgets.facts, count_tokens)
    if kept:
        text = "\n".join(fact_sentence(fact) for fact in kept)
        add(
            "knowledge graph",
            text,
            Citation(
                n=0,
                kind="facts",
                source="knowledge graph",
                document_id=None,
                chunk_id=None,
                retrievers=["graph"],
                text=text,
                chunk_ids=list(dict.fromkeys(fact.chunk_id for fact in kept)),
            ),
        )

    for item in _within(hits, [item.hit.text for item in hits], budgets.chunks, count_tokens):
        add(
            Path(item.hit.source).name,
            item.hit.text,
            Citation(
                n=0,
                kind="chunk",
                source=item.hit.source,
                document_id=item.hit.document_id,
                chunk_id=item.hit.chunk_id,
                retrievers=list(item.ranks),
                text=item.hit.text,
                score=round(item.score, 6),
            ),
        )
    return sources, citations


def _within(items: list[T], texts: list[str], budget: int, count_tokens: TokenLengths) -> list[T]:
    """The items, in order, whose texts fit the budget together; one too long is skipped, not fatal."""
    kept: list[T] = []
    for item, tokens in zip(items, count_tokens(texts) if texts else [], strict=True):
        if tokens <= budget:
            kept.append(item)
            budget -= tokens
    return kept
