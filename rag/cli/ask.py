"""`rag ask` and `rag retrieve`: a question over a knowledge base, answered or only searched."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from rag.cli.render import print_answer, print_json_line, print_retrieval, write_streamed
from rag.cli.support import JsonOption, KbOption, configured_stores, fail, print_json

if TYPE_CHECKING:
    from rag.answer.pipeline import AnswerPipeline

RetrieversOption = Annotated[
    str, typer.Option("--retrievers", help="Comma-separated: vector,keyword,graph,sql")
]
TopKOption = Annotated[int | None, typer.Option("--top-k", help="Fused hits that go into the prompt")]


@contextmanager
def _pipeline(kb: str, retrievers: str) -> Iterator[AnswerPipeline]:
    """The answer pipeline over the configured stores, warmed up, for an existing KB."""
    from rag.answer.pipeline import open_pipeline
    from rag.retrieve.rerank import RerankerError

    with configured_stores() as stores:
        if not stores.sql.kb_exists(kb):
            raise fail(f"no knowledge base named {kb!r} (rag kb list shows them)")
        try:
            pipeline = open_pipeline(stores, stores.settings, retrievers.split(","))
            pipeline.warm_up()
            yield pipeline
        except (ValueError, RerankerError) as exc:
            raise fail(str(exc)) from None


def retrieve(
    question: Annotated[str, typer.Argument(help="The question to find context for")],
    kb: KbOption = "default",
    top_k: TopKOption = None,
    retrievers: RetrieversOption = "vector,keyword,graph",
    as_json: JsonOption = False,
) -> None:
    """The fused hits for a question, with each one's retrievers, ranks and scores (no answer)."""
    from rag.answer.responses import retrieval_json

    with _pipeline(kb, retrievers) as pipeline:
        found = retrieval_json(question, kb, pipeline.retrieve(question, kb, top_k=top_k))
    if as_json:
        print_json(found)
    else:
        print_retrieval(question, kb, found)


def ask(
    question: Annotated[str, typer.Argument(help="The question to answer")],
    kb: KbOption = "default",
    top_k: TopKOption = None,
    retrievers: RetrieversOption = "vector,keyword,graph,sql",
    stream: Annotated[bool, typer.Option("--stream", help="Print the answer as it is written")] = False,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from a knowledge base with the configured model, citing its sources.

    --json prints {"answer", "citations", "sources_failed", "timings"}; with --stream too, one
    JSON line per piece of text ({"token": …}) and then that object on the last line.
    """
    from rag.answer.responses import answer_json
    from rag.models import Answer

    answer: Answer | None = None
    with _pipeline(kb, retrievers) as pipeline:
        for piece in pipeline.stream(question, kb, top_k=top_k):
            if isinstance(piece, Answer):
                answer = piece
            elif stream and as_json:
                print_json_line({"token": piece})
            elif stream:
                write_streamed(piece)
    assert answer is not None  # the pipeline always ends with the Answer
    shown = answer_json(answer)
    if as_json and stream:
        print_json_line(shown)
    elif as_json:
        print_json(shown)
    else:
        print_answer("" if stream else answer.answer, shown)
