"""The text-to-SQL prompt and its one repair."""

from __future__ import annotations

from rag.common.chat import Message

SQL_SYSTEM = """\
You write one {dialect} SELECT query that answers the question from the tables below. Use only \
these tables and columns, exactly as named. Answer with the SQL query alone, no explanation.

{catalogue}"""


def sql_messages(question: str, catalogue: str, dialect: str) -> list[Message]:
    """`catalogue` is the tables as CREATE TABLE statements with sample rows (`retrieve.sql`)."""
    return [
        {"role": "system", "content": SQL_SYSTEM.format(dialect=dialect, catalogue=catalogue)},
        {"role": "user", "content": question},
    ]


def sql_repair(messages: list[Message], reply: str, error: str) -> list[Message]:
    """The conversation so far, the query that failed and why, for the one repair attempt."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {
            "role": "user",
            "content": f"That query failed: {error}\nWrite a corrected query. Answer with the SQL alone.",
        },
    ]
