"""How much of a conversation the answer prompt carries: the latest turns within a token budget.

The history lets the model resolve "she" and keep the thread, but every token of it is a token
of sources it displaces and of prompt the model reads before its first word; old turns matter
least. So turns are kept from the latest backwards while they fit `history_tokens` (a setting),
and a turn that alone does not fit is left out rather than cut mid-sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.common.chat import Message
from rag.embed import TokenLengths
from rag.models import Turn

ROLES = ("user", "assistant")


def recent_turns(history: Sequence[Turn], count: int) -> list[Turn]:
    """The last `count` turns, in order."""
    return list(history[-count:]) if count > 0 else []


def within_budget(history: Sequence[Turn], budget: int, count_tokens: TokenLengths) -> list[Turn]:
    """The latest turns whose texts fit `budget` tokens together, in order; none when budget is 0."""
    if budget <= 0 or not history:
        return []
    kept: list[Turn] = []
    lengths = count_tokens([turn.content for turn in history])
    for turn, tokens in zip(reversed(history), reversed(lengths), strict=True):
        if tokens > budget:
            break
        kept.append(turn)
        budget -= tokens
    kept.reverse()
    return kept


def history_messages(history: Sequence[Turn]) -> list[Message]:
    """The turns as chat messages; an assistant turn first or two turns of one role in a row are
    kept as they are, which every chat template accepts."""
    return [
        {"role": "user" if turn.role == "user" else "assistant", "content": turn.content} for turn in history
    ]
