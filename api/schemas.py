"""Request and response bodies of the service's own routes, validated by pydantic and shown in /docs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.models import Citation, SourceFailure, Turn

RetrieverName = Literal["vector", "keyword", "graph", "sql"]
#: a filter value: chunk metadata must equal it (a list: equal any of its items)
FilterValue = str | int | float | bool | list[str | int | float | bool]
#: earlier messages a request may carry: the answer prompt keeps only what fits its token budget
#: anyway, and the bounds keep one request from making the follow-up rewrite read a book
MAX_HISTORY_MESSAGES = 50
MAX_MESSAGE_CHARS = 8000


class HistoryMessage(BaseModel):
    """One earlier message of the conversation: a question the user asked or an answer given."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4000, description="The question")
    kb: str = Field("default", min_length=1, max_length=128, description="Knowledge base name")
    top_k: int | None = Field(None, ge=1, le=50, description="Fused hits in the context (default: setting)")
    retrievers: list[RetrieverName] | None = Field(
        None, min_length=1, description="Which retrievers to run (default: all)"
    )
    filters: dict[str, FilterValue] | None = Field(None, description="Chunk metadata that must match")
    history: list[HistoryMessage] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_MESSAGES,
        description="The conversation before the question, oldest first: a follow-up that refers "
        "back is searched for as a standalone question (`retrieval_question`)",
    )

    def turns(self) -> list[Turn]:
        return [Turn(message.role, message.content) for message in self.history]


class QueryRequest(RetrieveRequest):
    stream: bool = Field(False, description="Server-Sent Events: token events, then one answer event")
    conversation_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="A stored conversation (POST /v1/conversations): its turns are the history, "
        "and this question and its answer are added to it",
    )

    @model_validator(mode="after")
    def _one_history(self) -> QueryRequest:
        if self.history and self.conversation_id is not None:
            raise ValueError(
                "history and conversation_id: send one of them, not both "
                "(a stored conversation already is its history)"
            )
        return self


class QueryResponse(BaseModel):
    question: str
    retrieval_question: str = Field(description="What retrieval searched for: a follow-up's rewrite")
    kb: str
    answer: str
    citations: list[Citation]
    unsupported: list[str] = Field(description="Sentences of the answer that no source supports")
    abstained: Literal["no_evidence", "model"] | None = Field(
        description="Why the answer says the KB does not tell; null when it answers"
    )
    sources_failed: list[SourceFailure]
    timings: dict[str, float]
    conversation_id: str | None = Field(None, description="The conversation this turn was added to")


class RetrieveResponse(BaseModel):
    question: str
    retrieval_question: str
    kb: str
    hits: list[dict[str, Any]]
    facts: list[dict[str, Any]]
    tables: list[dict[str, Any]]
    sources_failed: list[SourceFailure]
    timings_ms: dict[str, float]


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kb: str = Field(min_length=1, max_length=128, description="The knowledge base it asks")


class ConversationTurnOut(BaseModel):
    ordinal: int
    question: str
    retrieval_question: str
    answer: str
    citations: list[dict[str, Any]]
    abstained: str | None
    created_at: datetime


class ConversationSummary(BaseModel):
    id: str
    kb: str
    key_id: str | None = Field(description="The key that created it; null: the admin key or open mode")
    title: str = Field(description="The first question, cut to about 80 characters")
    turn_count: int
    created_at: datetime
    updated_at: datetime


class ConversationOut(ConversationSummary):
    turns: list[ConversationTurnOut]


class ConversationPage(BaseModel):
    total: int
    offset: int
    limit: int
    conversations: list[ConversationSummary]


class LocalIngestRequest(BaseModel):
    """`rag ingest`'s arguments, sent to the server that holds the data folder (api/local.py)."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(min_length=1, description="Absolute paths of files and folders on the server")
    kb: str = Field("default", min_length=1, max_length=128, description="Knowledge base name")
    include: list[str] = Field(default_factory=list, description="Only files matching these globs")
    exclude: list[str] = Field(default_factory=list, description="Skip files matching these globs")
    prune: bool = Field(False, description="Delete documents whose files are gone")
