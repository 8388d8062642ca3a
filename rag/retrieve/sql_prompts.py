"""The text-to-SQL prompt, its one repair, and the answer that declines to write a query."""

from __future__ import annotations

import re

from rag.common.chat import Message

_TASK = (
    "write one {dialect} SELECT query that answers the question from the tables below. Use only these "
    "tables and columns, exactly as named. Answer with the SQL query alone, no explanation."
)
SQL_SYSTEM = "You " + _TASK + "\n\n{catalogue}"

#: What the model answers, where it may (`sql_route` was unsure), for a question the tables do not
#: answer: one fixed token, so its vote costs no call besides the one that would write the query.
NO_SQL = "NO_SQL"
#: The decision comes first, as a question of its own: offered at the end of the instructions or
#: after the catalogue, Qwen2.5-Coder-0.5B never took it (0 of 5 text questions on the sample
#: tables); asked first, it declined 2 of 5 and still wrote the query for all 3 table questions,
#: where a reminder in the user message cost one of those (trials here, 2026-12-02).
SQL_SYSTEM_MAY_DECLINE = (
    "First decide: do the rows of the tables below hold the answer to the question? If not, reply "
    f"{NO_SQL} and nothing else. If they do, " + _TASK + "\n\n{catalogue}"
)
_NO_SQL = re.compile(r"\bNO[_ -]?SQL\b", re.IGNORECASE)
_QUERY = re.compile(r"\b(?:SELECT|WITH)\b", re.IGNORECASE)


def sql_messages(question: str, catalogue: str, dialect: str, *, may_decline: bool = False) -> list[Message]:
    """`catalogue` is the tables as CREATE TABLE statements with sample rows (`retrieve.sql`);
    `may_decline` offers the model `NO_SQL`, only where the route could not tell: on a question
    that surely needs a table the vote could only be wrong, and the prompt stays the one the
    query-writing trials were run with."""
    template = SQL_SYSTEM_MAY_DECLINE if may_decline else SQL_SYSTEM
    system = template.format(dialect=dialect, catalogue=catalogue)
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def declines(reply: str) -> bool:
    """Whether the reply is the model's `NO_SQL` rather than a query: the token, with no
    SELECT/WITH before it (a query that mentions it in a comment or string is still a query)."""
    declined = _NO_SQL.search(reply)
    if declined is None:
        return False
    query = _QUERY.search(reply)
    return query is None or query.start() > declined.start()


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
