"""Stored conversations over HTTP: create one over a KB, list a key's own, read one with its turns,
delete one. `POST /v1/query` with a `conversation_id` continues one (api/query.py).

A conversation belongs to the key that created it: another key's conversation answers 404, the same
as one that does not exist (as `readable_kb` does for KBs), so ids cannot be probed; the admin key
reads and deletes every one. The key must still read the conversation's KB.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Principal, principal, readable_kb
from api.errors import ApiError
from api.schemas import ConversationOut, ConversationPage, ConversationSummary, NewConversation
from api.services import Services, services
from rag.stores.sql import Conversation

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
Caller = Annotated[Principal, Depends(principal)]
Found = Annotated[Services, Depends(services)]


def readable_conversation(caller: Principal, found: Services, conversation_id: str) -> Conversation:
    """The conversation with its turns when the caller may read it; else 404, whatever failed."""
    conversation = found.stores.sql.conversation(conversation_id)
    if (
        conversation is None
        or not (caller.admin or conversation.key_id == caller.key_id)
        or not caller.can_read(conversation.kb)
    ):
        raise ApiError(404, "conversation_not_found", f"no conversation with id {conversation_id!r}")
    return conversation


def summary(conversation: Conversation) -> dict[str, Any]:
    shown = asdict(conversation)
    del shown["turns"]
    return shown


@router.post("", status_code=201, response_model=ConversationSummary)
def create_conversation(body: NewConversation, caller: Caller, found: Found) -> Any:
    """Start a conversation over a KB; continue it with `POST /v1/query` and its `conversation_id`."""
    readable_kb(caller, found, body.kb)
    return summary(found.stores.sql.create_conversation(body.kb, caller.key_id))


@router.get("", response_model=ConversationPage)
def list_conversations(
    caller: Caller,
    found: Found,
    kb: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    """One page of this key's conversations (the admin's: all of them), the most recently continued
    first, optionally of one KB."""
    if kb is not None:
        readable_kb(caller, found, kb)
    grant = caller.grant
    total, page = found.stores.sql.list_conversations(
        kb=kb,
        key_id=None if caller.admin else caller.key_id,
        kbs=None if caller.admin or grant is None else grant.kbs,
        offset=offset,
        limit=limit,
    )
    return {"total": total, "offset": offset, "limit": limit, "conversations": [summary(c) for c in page]}


@router.get("/{conversation_id}", response_model=ConversationOut)
def get_conversation(conversation_id: str, caller: Caller, found: Found) -> Any:
    """A conversation with its turns in order: each question, what was searched for, the answer
    and its citations."""
    return asdict(readable_conversation(caller, found, conversation_id))


@router.delete("/{conversation_id}")
def delete_conversation(conversation_id: str, caller: Caller, found: Found) -> dict[str, str]:
    """Delete a conversation and its turns."""
    readable_conversation(caller, found, conversation_id)
    found.stores.sql.delete_conversation(conversation_id)
    return {"deleted": conversation_id}
