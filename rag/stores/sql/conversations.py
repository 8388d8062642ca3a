"""Rows of `conversations` and `conversation_turns`: stored conversations that a chat continues by id.

A conversation belongs to one KB (deleting the KB deletes it: the foreign key cascades) and to
the key that created it; who may read it is the HTTP layer's decision, this module only filters.
Appending a turn first updates the conversation's row, which takes the row's lock (PostgreSQL) or
the database's write lock (SQLite) before the next ordinal is read, so two answers finishing at
once for the same conversation get consecutive ordinals instead of one failing on the key.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rag.stores.sql.results import Conversation, ConversationTurn
from rag.stores.sql.schema import conversation_turns, conversations

#: a conversation's title is its first question, cut to about this many characters
TITLE_CHARS = 80
_SPACE = re.compile(r"\s+")

_TURN = (
    conversation_turns.c.ordinal,
    conversation_turns.c.question,
    conversation_turns.c.retrieval_question,
    conversation_turns.c.answer,
    conversation_turns.c.citations,
    conversation_turns.c.abstained,
    conversation_turns.c.created_at,
)
_TURN_COUNT = (
    sa.select(sa.func.count())
    .where(conversation_turns.c.conversation_id == conversations.c.id)
    .scalar_subquery()
    .label("turn_count")
)
#: the columns of a `Conversation` without its turns, in its field order
_CONVERSATION = (
    conversations.c.id,
    conversations.c.kb,
    conversations.c.key_id,
    conversations.c.title,
    _TURN_COUNT,
    conversations.c.created_at,
    conversations.c.updated_at,
)


def title_of(question: str) -> str:
    """The question on one line, cut at a word near `TITLE_CHARS` (with "…") when longer."""
    line = _SPACE.sub(" ", question).strip()
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[: TITLE_CHARS - 1]
    space = cut.rfind(" ")
    # a text without spaces (Chinese, a long URL) is cut where it is
    return (cut[:space] if space > TITLE_CHARS // 2 else cut).rstrip() + "…"


def create(conn: Connection, kb: str, key_id: str | None) -> Conversation:
    now = datetime.now(UTC)
    conversation = Conversation(str(uuid.uuid4()), kb, key_id, "", 0, now, now)
    conn.execute(
        conversations.insert().values(
            id=conversation.id, kb=kb, key_id=key_id, title="", created_at=now, updated_at=now
        )
    )
    return conversation


def get(conn: Connection, conversation_id: str) -> Conversation | None:
    """The conversation with its turns in order, or None."""
    row = conn.execute(sa.select(*_CONVERSATION).where(conversations.c.id == conversation_id)).first()
    if row is None:
        return None
    query = (
        sa.select(*_TURN)
        .where(conversation_turns.c.conversation_id == conversation_id)
        .order_by(conversation_turns.c.ordinal)
    )
    turns = [ConversationTurn(*turn) for turn in conn.execute(query)]
    return Conversation(*row, turns=turns)


def append(
    conn: Connection,
    conversation_id: str,
    *,
    question: str,
    retrieval_question: str,
    answer: str,
    citations: list[dict[str, Any]],
    abstained: str | None,
) -> int | None:
    """Add a turn after the last one; its ordinal, or None when the conversation does not exist.
    The first turn's question becomes the title."""
    now = datetime.now(UTC)
    touched = conn.execute(
        conversations.update()
        .where(conversations.c.id == conversation_id)
        .values(
            updated_at=now,
            title=sa.case((conversations.c.title == "", title_of(question)), else_=conversations.c.title),
        )
    )
    if touched.rowcount == 0:
        return None
    last = conn.scalar(
        sa.select(sa.func.max(conversation_turns.c.ordinal)).where(
            conversation_turns.c.conversation_id == conversation_id
        )
    )
    ordinal = 0 if last is None else last + 1
    conn.execute(
        conversation_turns.insert().values(
            conversation_id=conversation_id,
            ordinal=ordinal,
            question=question,
            retrieval_question=retrieval_question,
            answer=answer,
            citations=citations,
            abstained=abstained,
            created_at=now,
        )
    )
    return ordinal


def page(
    conn: Connection,
    *,
    kb: str | None = None,
    key_id: str | None = None,
    kbs: Collection[str] | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[int, list[Conversation]]:
    """One page of conversations, the most recently continued first, and how many match in all.

    `kb` keeps one KB's, `key_id` one key's, `kbs` those over any of these KBs (a key's grant);
    None keeps every one."""
    where: list[sa.ColumnElement[bool]] = []
    if kb is not None:
        where.append(conversations.c.kb == kb)
    if key_id is not None:
        where.append(conversations.c.key_id == key_id)
    if kbs is not None:
        where.append(conversations.c.kb.in_(sorted(kbs)))
    total = conn.scalar(sa.select(sa.func.count()).select_from(conversations).where(*where)) or 0
    query = (
        sa.select(*_CONVERSATION)
        .where(*where)
        .order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return total, [Conversation(*row) for row in conn.execute(query)]


def delete(conn: Connection, conversation_id: str) -> bool:
    """Delete the conversation and its turns; False when there was none."""
    conn.execute(conversation_turns.delete().where(conversation_turns.c.conversation_id == conversation_id))
    return conn.execute(conversations.delete().where(conversations.c.id == conversation_id)).rowcount > 0
