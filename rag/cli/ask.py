"""`rag ask` and `rag retrieve`: a question over a knowledge base, answered or only searched.

`rag ask --conversation ID` continues a stored conversation (one `rag chat` or `POST
/v1/conversations` started): its turns are the history, and the question and its answer are added
to it. The helpers that open the pipeline and find a conversation serve `rag chat` too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from rag.cli.render import print_answer, print_json_line, print_retrieval, write_streamed
from rag.cli.support import JsonOption, KbOption, configured_stores, fail, print_json

if TYPE_CHECKING:
    from rag.answer.pipeline import AnswerPipeline
    from rag.stores.factory import Stores
    from rag.stores.sql import Conversation

RetrieversOption = Annotated[
    str, typer.Option("--retrievers", help="Comma-separated: vector,keyword,graph,sql")
]
TopKOption = Annotated[int | None, typer.Option("--top-k", help="Fused hits that go into the prompt")]
#: --kb where a stored conversation may name the KB instead
KbOrConversationOption = Annotated[
    str | None, typer.Option("--kb", help="Knowledge base name (default: the conversation's, else default)")
]
ConversationOption = Annotated[
    str | None,
    typer.Option("--conversation", help="Continue this stored conversation (rag chat prints its id)"),
]


@contextmanager
def configuration_errors() -> Iterator[None]:
    """A bad choice of retrievers or a reranker folder that does not load, found when the pipeline
    opens or first runs, as one line and exit 2."""
    from rag.retrieve.rerank import RerankerError

    try:
        yield
    except (ValueError, RerankerError) as exc:
        raise fail(str(exc)) from None


def open_answer_pipeline(stores: Stores, kb: str, retrievers: str) -> AnswerPipeline:
    """The answer pipeline over open stores, warmed up, for an existing KB (inside
    `configuration_errors`)."""
    from rag.answer.pipeline import open_pipeline

    if not stores.sql.kb_exists(kb):
        raise fail(f"no knowledge base named {kb!r} (rag kb list shows them)")
    pipeline = open_pipeline(stores, stores.settings, retrievers.split(","))
    pipeline.warm_up()
    return pipeline


def stored_conversation(stores: Stores, conversation_id: str, kb: str | None) -> Conversation:
    """The stored conversation with its turns; an exit when there is none, or when `kb` names
    another KB than the one it asks."""
    conversation = stores.sql.conversation(conversation_id)
    if conversation is None:
        raise fail(f"no conversation with id {conversation_id!r}")
    if kb is not None and kb != conversation.kb:
        raise fail(f"conversation {conversation_id!r} asks {conversation.kb!r}, not {kb!r}")
    return conversation


def retrieve(
    question: Annotated[str, typer.Argument(help="The question to find context for")],
    kb: KbOption = "default",
    top_k: TopKOption = None,
    retrievers: RetrieversOption = "vector,keyword,graph",
    as_json: JsonOption = False,
) -> None:
    """The fused hits for a question, with each one's retrievers, ranks and scores (no answer)."""
    from rag.answer.responses import retrieval_json

    with configured_stores() as stores, configuration_errors():
        pipeline = open_answer_pipeline(stores, kb, retrievers)
        found = retrieval_json(question, kb, pipeline.retrieve(question, kb, top_k=top_k))
    if as_json:
        print_json(found)
    else:
        print_retrieval(question, kb, found)


def ask(
    question: Annotated[str, typer.Argument(help="The question to answer")],
    kb: KbOrConversationOption = None,
    top_k: TopKOption = None,
    retrievers: RetrieversOption = "vector,keyword,graph,sql",
    stream: Annotated[bool, typer.Option("--stream", help="Print the answer as it is written")] = False,
    conversation_id: ConversationOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from a knowledge base with the configured model, citing its sources.

    --json prints {"answer", "citations", "retrieval_question", "sources_failed", "timings", …};
    with --stream too, one JSON line per piece of text ({"token": …}) and then that object on the
    last line. With --conversation, the answer is added to that conversation.
    """
    from rag.answer.responses import answer_json, turn_json
    from rag.models import Answer

    answer: Answer | None = None
    with configured_stores() as stores, configuration_errors():
        conversation = stored_conversation(stores, conversation_id, kb) if conversation_id else None
        kb = conversation.kb if conversation else kb or "default"
        pipeline = open_answer_pipeline(stores, kb, retrievers)
        history = conversation.history() if conversation else []
        for piece in pipeline.stream(question, kb, top_k=top_k, history=history):
            if isinstance(piece, Answer):
                answer = piece
            elif stream and as_json:
                print_json_line({"token": piece})
            elif stream:
                write_streamed(piece)
        assert answer is not None  # the pipeline always ends with the Answer
        shown = answer_json(answer)
        if conversation is not None:
            stores.sql.append_turn(conversation.id, **turn_json(answer))
            shown["conversation_id"] = conversation.id
    if as_json and stream:
        print_json_line(shown)
    elif as_json:
        print_json(shown)
    else:
        print_answer("" if stream else answer.answer, shown)
