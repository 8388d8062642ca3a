"""`rag chat`: a conversation in the terminal, stored like the HTTP API's conversations, so that
`rag ask --conversation ID` or `POST /v1/query` with its `conversation_id` can continue it.

Each answer streams as it is written and its sources follow. `/new` starts a new conversation,
`/exit` or Ctrl-D ends the chat. Ctrl-C during an answer stops that answer only: the model stops
at its next token, and the stopped turn is neither stored nor part of the history, so the next
question is asked as if it had not been; Ctrl-C at the prompt clears the line, as in a shell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.markup import escape

from rag.cli.ask import (
    ConversationOption,
    KbOrConversationOption,
    RetrieversOption,
    TopKOption,
    configuration_errors,
    open_answer_pipeline,
    stored_conversation,
)
from rag.cli.render import print_sources, write_streamed
from rag.cli.support import configured_stores, out

if TYPE_CHECKING:
    from rag.answer.pipeline import AnswerPipeline
    from rag.models import Answer, Turn
    from rag.stores.factory import Stores
    from rag.stores.sql import Conversation

PROMPT = "[bold]you>[/] "
NEW, EXIT = "/new", "/exit"


@dataclass
class ChatSession:
    """One terminal's conversation: the stored one it adds to and the history it answers with."""

    stores: Stores
    pipeline: AnswerPipeline
    kb: str
    top_k: int | None
    conversation: Conversation
    history: list[Turn] = field(default_factory=list)

    def start_new(self) -> None:
        self.conversation = self.stores.sql.create_conversation(self.kb)
        self.history = []
        self.announce()

    def announce(self) -> None:
        turns = f", {self.conversation.turn_count} turns so far" if self.conversation.turn_count else ""
        out.print(
            f"[dim]conversation[/] {self.conversation.id} [dim]over {escape(repr(self.kb))}{turns}[/]",
            highlight=False,
        )

    def ask(self, question: str) -> None:
        """Stream the answer and print its sources; store the turn unless Ctrl-C stopped it."""
        from rag.answer.responses import answer_json, turn_json
        from rag.models import Answer, Turn

        answer: Answer | None = None
        pieces = self.pipeline.stream(question, self.kb, top_k=self.top_k, history=self.history)
        try:
            for piece in pieces:
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    write_streamed(piece)
        except KeyboardInterrupt:
            pieces.close()  # the model stops at its next token
            out.print("\n[dim](stopped; this turn is not kept)[/]")
            return
        assert answer is not None  # the pipeline always ends with the Answer
        out.print("\n")
        shown = answer_json(answer)
        print_sources(shown)
        self.stores.sql.append_turn(self.conversation.id, **turn_json(answer))
        self.history += [Turn("user", question), Turn("assistant", answer.answer)]


def read_line() -> str | None:
    """The next line typed, stripped; None at the end of input (Ctrl-D), "" after Ctrl-C."""
    try:
        return out.input(PROMPT).strip()
    except EOFError:
        out.print()
        return None
    except KeyboardInterrupt:
        out.print()
        return ""


def chat(
    kb: KbOrConversationOption = None,
    top_k: TopKOption = None,
    retrievers: RetrieversOption = "vector,keyword,graph,sql",
    conversation_id: ConversationOption = None,
) -> None:
    """Talk with a knowledge base: follow-up questions are understood in the conversation, each
    answer streams and cites its sources, and the conversation is stored (its id is printed).
    /new starts a new conversation; /exit or Ctrl-D quits; Ctrl-C stops an answer."""
    with configured_stores() as stores, configuration_errors():
        resumed = stored_conversation(stores, conversation_id, kb) if conversation_id else None
        kb = resumed.kb if resumed else kb or "default"
        pipeline = open_answer_pipeline(stores, kb, retrievers)
        session = ChatSession(
            stores,
            pipeline,
            kb,
            top_k,
            resumed or stores.sql.create_conversation(kb),
            resumed.history() if resumed else [],
        )
        session.announce()
        out.print(f"[dim]ask a question; {NEW} starts a new conversation, {EXIT} or Ctrl-D quits[/]")
        while (line := read_line()) is not None and line != EXIT:
            if line == NEW:
                session.start_new()
            elif line.startswith("/"):
                out.print(f"[dim]unknown command {escape(line)}: {NEW} or {EXIT}[/]", highlight=False)
            elif line:
                session.ask(line)
