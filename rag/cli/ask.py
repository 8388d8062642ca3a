"""`rag ask` and `rag retrieve`: a question over a knowledge base, answered or only searched.

`rag ask --conversation ID` continues a stored conversation (one `rag chat` or `POST
/v1/conversations` started): its turns are the history, and the question and its answer are added
to it. The helpers that open the pipeline and find a conversation serve `rag chat` too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rag.cli.remote import Remote, forwarding_server
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

    remote = forwarding_server()
    if remote is not None:
        body = {"question": question, "kb": kb, "top_k": top_k, "retrievers": retrievers.split(",")}
        with remote:
            found = remote.send("POST", "/v1/retrieve", body=body).json()
    else:
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
    shown_piece = _piece_printer(stream, as_json)
    remote = forwarding_server()
    if remote is not None:
        body = {"question": question, "top_k": top_k, "retrievers": retrievers.split(","), "stream": stream}
        body |= {"kb": kb} if kb is not None else {}
        body |= {"conversation_id": conversation_id} if conversation_id else {}
        with remote:
            shown = _asked_remotely(remote, body, shown_piece)
    else:
        shown = _answered(question, kb, top_k, retrievers, conversation_id, shown_piece)
    if as_json and stream:
        print_json_line(shown)
    elif as_json:
        print_json(shown)
    else:
        print_answer("" if stream else shown["answer"], shown)


def _piece_printer(stream: bool, as_json: bool) -> Callable[[str], None]:
    """What becomes of a piece of the answer as it is written: a JSON line, the text, or nothing."""
    if stream and as_json:
        return lambda piece: print_json_line({"token": piece})
    return write_streamed if stream else lambda _piece: None


def _answered(
    question: str,
    kb: str | None,
    top_k: int | None,
    retrievers: str,
    conversation_id: str | None,
    shown_piece: Callable[[str], None],
) -> dict[str, Any]:
    """The answer over the stores this process opens, added to the conversation if one is named."""
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
            else:
                shown_piece(piece)
        assert answer is not None  # the pipeline always ends with the Answer
        shown = answer_json(answer)
        if conversation is not None:
            stores.sql.append_turn(conversation.id, **turn_json(answer))
            shown["conversation_id"] = conversation.id
    return shown


def _asked_remotely(
    remote: Remote, body: dict[str, Any], shown_piece: Callable[[str], None]
) -> dict[str, Any]:
    """The answer of `rag serve`: whole, or its `token` events shown as they come and then its
    `answer` event; without the `conversation_id` the API always sends, unless it names one."""
    if not body["stream"]:
        shown = dict(remote.send("POST", "/v1/query", body=body).json())
    else:
        shown = {}
        for event, data in remote.events("/v1/query", body):
            if event == "token":
                shown_piece(data["text"])
            elif event == "answer":
                shown = data
            elif event == "error":
                raise fail(str(data["error"]["message"]))
        if not shown:
            raise fail(f"rag serve on {remote.url} ended the answer's stream before the answer")
    if shown.get("conversation_id") is None:
        shown.pop("conversation_id", None)
    return shown
