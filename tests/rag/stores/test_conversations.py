"""Stored conversations on SQLite and PostgreSQL: turns in order, paging newest first, the filters a
key's scope needs, deletion with the conversation and with its KB, and appends that race."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rag.models import Turn
from rag.stores.sql import SqlStore
from rag.stores.sql.conversations import TITLE_CHARS, title_of
from rag.stores.sql.schema import conversation_turns
from tests.postgres import create_database, drop_database

KB, OTHER = "demo", "other"
CITATION = {"n": 1, "kind": "chunk", "source": "/docs/handbook.md", "cited": True, "how": "written"}


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated store with two KBs: a SQLite file, or a new database on the session's PostgreSQL."""
    created = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rag.db'}"
    else:
        server = request.getfixturevalue("postgres_url")
        url = created = create_database(server, "conversations")
    opened = SqlStore(url)
    opened.create_kb(KB)
    opened.create_kb(OTHER)
    yield opened
    opened.close()
    if created is not None:
        drop_database(server, created)


def turn(question: str, answer: str = "An answer [1].", **fields: Any) -> dict[str, Any]:
    return {
        "question": question,
        "retrieval_question": question,
        "answer": answer,
        "citations": [CITATION],
        "abstained": None,
        **fields,
    }


def test_turns_are_kept_in_order_and_the_first_question_is_the_title(store: SqlStore) -> None:
    created = store.create_conversation(KB, "key-a")
    assert (created.kb, created.key_id, created.title, created.turn_count) == (KB, "key-a", "", 0)
    first = turn("Who is the CEO of Northwind Robotics?", "Maria Keller [1].")
    assert store.append_turn(created.id, **first) == 0
    follow_up = turn(
        "And when was it founded?",
        "It was not said.",
        retrieval_question="When was Northwind Robotics founded?",
        abstained="model",
    )
    assert store.append_turn(created.id, **follow_up) == 1

    found = store.conversation(created.id)
    assert found is not None
    assert (found.title, found.turn_count, [t.ordinal for t in found.turns]) == (
        "Who is the CEO of Northwind Robotics?",
        2,
        [0, 1],
    )
    second = found.turns[1]
    assert second.retrieval_question == "When was Northwind Robotics founded?"
    assert (second.abstained, second.citations) == ("model", [CITATION])
    assert found.updated_at >= found.created_at
    assert found.history() == [
        Turn("user", "Who is the CEO of Northwind Robotics?"),
        Turn("assistant", "Maria Keller [1]."),
        Turn("user", "And when was it founded?"),
        Turn("assistant", "It was not said."),
    ]


def test_a_missing_conversation_is_none_everywhere(store: SqlStore) -> None:
    assert store.conversation("no-such-id") is None
    assert store.append_turn("no-such-id", **turn("Anything?")) is None
    assert store.delete_conversation("no-such-id") is False


def test_pages_are_newest_first_and_filter_by_kb_key_and_grant(store: SqlStore) -> None:
    made = [
        store.create_conversation(KB, "key-a"),
        store.create_conversation(KB, "key-b"),
        store.create_conversation(OTHER, "key-a"),
        store.create_conversation(KB, None),
        store.create_conversation(KB, "key-a"),
    ]
    store.append_turn(made[0].id, **turn("The oldest, continued last"))  # now the most recent
    order = [made[0], made[4], made[3], made[2], made[1]]

    total, first = store.list_conversations(limit=2)
    assert total == 5 and [c.id for c in first] == [c.id for c in order[:2]]
    assert first[0].turn_count == 1 and first[0].title == "The oldest, continued last" and not first[0].turns
    _, rest = store.list_conversations(offset=2, limit=10)
    assert [c.id for c in rest] == [c.id for c in order[2:]]

    total, mine = store.list_conversations(key_id="key-a")
    assert total == 3 and [c.id for c in mine] == [made[0].id, made[4].id, made[2].id]
    total, mine_in_kb = store.list_conversations(key_id="key-a", kb=KB)
    assert total == 2 and {c.id for c in mine_in_kb} == {made[0].id, made[4].id}
    total, granted = store.list_conversations(key_id="key-a", kbs={OTHER})
    assert total == 1 and granted[0].id == made[2].id
    assert store.list_conversations(kbs=set()) == (0, [])


def test_a_deleted_conversation_takes_its_turns_and_a_deleted_kb_its_conversations(store: SqlStore) -> None:
    kept = store.create_conversation(KB)
    gone = store.create_conversation(KB)
    other = store.create_conversation(OTHER)
    for conversation in (kept, gone, other):
        store.append_turn(conversation.id, **turn("What warranty do the robots carry?"))
    assert store.delete_conversation(gone.id) is True
    assert store.conversation(gone.id) is None and store.delete_conversation(gone.id) is False

    store.delete_kb(OTHER)
    assert store.conversation(other.id) is None
    assert [c.id for c in store.list_conversations()[1]] == [kept.id]
    with store.engine.connect() as conn:
        owners = conn.scalars(sa.select(conversation_turns.c.conversation_id)).all()
    assert owners == [kept.id]


def test_answers_finishing_together_get_consecutive_ordinals(store: SqlStore) -> None:
    conversation = store.create_conversation(KB)
    with ThreadPoolExecutor(max_workers=4) as pool:
        ordinals = list(
            pool.map(lambda n: store.append_turn(conversation.id, **turn(f"Question {n}?")), range(12))
        )
    assert sorted(ordinals) == list(range(12))
    found = store.conversation(conversation.id)
    assert found is not None and found.turn_count == 12


@pytest.mark.fast
def test_a_title_is_the_first_question_on_one_line_cut_at_a_word() -> None:
    assert title_of("  When was\nNorthwind   founded? ") == "When was Northwind founded?"
    long = "How many days of paid annual leave does every employee of Northwind Robotics receive each year?"
    cut = title_of(long)
    assert len(cut) <= TITLE_CHARS and cut.endswith("…") and long.startswith(cut[:-1])
    assert cut[:-1] == long[: len(cut) - 1] and long[len(cut) - 1] == " "
    assert title_of("深" * 200) == "深" * (TITLE_CHARS - 1) + "…"
