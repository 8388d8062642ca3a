"""Text-to-SQL over a knowledge base's ingested tables: route, write, check, run, repair once.

A question pays for a model call only when it needs a table: `sql_route.route` decides from its
words (skip, sure, or ask the model, which may then answer `NO_SQL` in the very call that would
write the query). The model sees the relevant tables as `CREATE TABLE` statements
with a few `INSERT`ed rows, the form text-to-SQL models are trained on, and writes one query.
The tables go by their files' own names (`singer` for singer.csv): the stored names carry the
KB's namespace and a document hash, which small models drop (a 0.5B coder wrote `singer` for
`kb_…__singer_69ba7920`); `real_names` puts the stored names back before the guard. The query
passes `sql_guard.check_sql` (one SELECT over this KB's tables) and runs through
`sql_exec.run_guarded` (read-only, time-limited, row-limited). When the guard or the database
refuses it, the model gets the reason and one more try; a second failure is the retriever's
failure, which the fused retrieval reports in `sources_failed`. A `NO_SQL` vote is no failure:
the question was about text, and the other retrievers answer it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import sqlglot
from sqlglot import exp

from rag.common.chat import ChatModel
from rag.common.filters import parse
from rag.common.markup import defuse
from rag.models import Hit, TableResult
from rag.retrieve.base import Evidence, Retriever
from rag.retrieve.sql_exec import MAX_VALUE_BYTES, QueryFailed, run_guarded
from rag.retrieve.sql_guard import UnsafeSQL, check_sql, fold, is_cte_reference
from rag.retrieve.sql_prompts import declines, sql_messages, sql_repair
from rag.retrieve.sql_route import route
from rag.stores.sql import CatalogueTable, SqlStore
from rag.stores.sql.kb_tables import sql_identifier

log = logging.getLogger(__name__)

#: Sample rows per table in the prompt: enough to show the values' format (dates, codes, case).
SAMPLE_ROWS = 3
#: Tokens of the model's reply: one query.
MAX_SQL_TOKENS = 256

_CATALOGUE_TYPES = {
    "integer": "INTEGER",
    "decimal": "NUMERIC",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "boolean": "BOOLEAN",
    "text": "TEXT",
}
_FENCED = re.compile(r"```(?:sql|postgresql|postgres|sqlite)?\s*\n?(.*?)```", re.IGNORECASE | re.DOTALL)
_QUERY_START = re.compile(r"\b(SELECT|WITH)\b", re.IGNORECASE)


def prompt_names(tables: Iterable[CatalogueTable]) -> dict[str, str]:
    """The name each table goes by in the prompt → its stored name: its file's name as an
    identifier, with `_2`, `_3`… where two tables shown would share one."""
    names: dict[str, str] = {}
    for table in tables:
        base = sql_identifier(table.source_name, "table")
        if not _parses_as_table(base):  # a word sqlglot reserves (qualify, glob…): `qualify_`
            base += "_"
        name, number = base, 2
        while name in names:
            name, number = f"{base}_{number}", number + 1
        names[name] = table.name
    return names


def _parses_as_table(name: str) -> bool:
    try:
        sqlglot.parse_one(f"SELECT 1 FROM {name}")
    except sqlglot.errors.SqlglotError:
        return False
    return True


def real_names(query: str, dialect: str, names: dict[str, str]) -> str:
    """The query with the prompt's table names replaced by the stored ones, each keeping the
    prompt name as its alias so that `singer.name` still resolves. A query that does not parse
    is returned as it is, for the guard to refuse with its reason."""
    try:
        tree = sqlglot.parse_one(query, read=dialect)
    except sqlglot.errors.SqlglotError:
        return query
    for table in list(tree.find_all(exp.Table)):
        if table.db or not isinstance(table.this, exp.Identifier):
            continue
        shown = fold(table.this, dialect)
        if shown not in names or is_cte_reference(table, shown, dialect):
            continue
        stored = exp.to_table(names[shown], dialect=dialect)
        table.set("this", stored.this)
        table.set("db", stored.args.get("db"))
        if not table.alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(shown)))
    return tree.sql(dialect=dialect)


def describe(tables: Iterable[CatalogueTable]) -> str:
    """The tables as `CREATE TABLE` statements under their prompt names, each followed by a few
    rows as `INSERT` statements: typed literals show a small model which column holds a value the
    question names ('Pallet Mover' is a name, not a category) better than a bare grid of values
    did in trials here."""
    tables = list(tables)
    blocks = []
    for name, table in zip(prompt_names(tables), tables, strict=True):
        columns = ", ".join(
            f"{column['name']} {_CATALOGUE_TYPES.get(column['type'], 'TEXT')}" for column in table.columns
        )
        lines = [f"-- {table.description}", f"CREATE TABLE {name} ({columns});"]
        lines += [
            f"INSERT INTO {name} VALUES ({', '.join(exp.convert(v).sql() for v in row)});"
            for row in table.sample_rows[:SAMPLE_ROWS]
        ]
        blocks.append("\n".join(lines))
    # the rows are a document's: no chat-template marker of theirs reaches the tokenizer
    return defuse("\n\n".join(blocks))


def extract_sql(reply: str) -> str:
    """The query in a model's reply: the first fenced block if any, else the text from the first
    SELECT/WITH up to the first blank line; the guard judges whatever comes out."""
    fenced = _FENCED.search(reply)
    text = fenced.group(1) if fenced else reply
    start = _QUERY_START.search(text)
    if start is None:
        return text.strip()
    query = text[start.start() :]
    if not fenced:
        query = re.split(r"\n\s*\n", query, maxsplit=1)[0]
    return query.strip()


class SqlRetriever(Retriever):
    """A table of rows answering the question, computed by a query the model wrote and the guard checked."""

    name = "sql"

    def __init__(
        self,
        sql: SqlStore,
        chat: ChatModel,
        *,
        timeout_s: float = 5.0,
        max_rows: int = 20,
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        self.sql = sql
        self.chat = chat
        #: statement timeout of the query itself; the model's time is bounded by its own client
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_value_bytes = max_value_bytes

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        """No chunks: a SQL result is a table for the prompt, which `gather` returns."""
        return []

    def gather(self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None) -> Evidence:
        catalogue = self.sql.tables(kb)
        # tables carry no chunk metadata, only their document: a filter on it keeps their tables
        wanted = parse(filters).on("document_id")
        if wanted is not None:
            catalogue = [table for table in catalogue if wanted.accepts(table.document_id)]
        routed = route(question, catalogue)
        # counts and kinds only: the question and the tables' values stay out of the log
        log.info(
            "event=sql_route kb=%s decision=%s why=%s tables=%d",
            kb,
            routed.decision,
            routed.why,
            len(routed.tables),
        )
        if routed.decision == "skip":
            return Evidence([])
        dialect = "sqlite" if self.sql.engine.dialect.name == "sqlite" else "postgres"
        names = prompt_names(routed.tables)
        may_decline = routed.decision == "ask"
        messages = sql_messages(question, describe(routed.tables), dialect, may_decline=may_decline)
        reply = self.chat.complete(messages, max_tokens=MAX_SQL_TOKENS)
        if may_decline:
            declined = declines(reply)
            log.info("event=sql_vote kb=%s vote=%s", kb, "no_sql" if declined else "query")
            if declined:  # not a failure, and nothing to repair: the text retrievers answer it
                return Evidence([])
        try:
            return Evidence([], tables=[self._run(extract_sql(reply), dialect, catalogue, names)])
        except (UnsafeSQL, QueryFailed) as exc:
            log.info("event=sql_repair kb=%s error=%s", kb, exc)
            repaired = self.chat.complete(sql_repair(messages, reply, str(exc)), max_tokens=MAX_SQL_TOKENS)
            return Evidence([], tables=[self._run(extract_sql(repaired), dialect, catalogue, names)])

    def _run(
        self, query: str, dialect: str, catalogue: list[CatalogueTable], names: dict[str, str]
    ) -> TableResult:
        query = real_names(query, dialect, names)
        safe = check_sql(query, dialect, {table.name for table in catalogue}, max_rows=self.max_rows)
        columns, rows = run_guarded(
            self.sql.reader_engine,
            safe,
            timeout_s=self.timeout_s,
            max_rows=self.max_rows,
            max_value_bytes=self.max_value_bytes,
        )
        tree = sqlglot.parse_one(safe, read=dialect)
        named = {".".join(part.name.lower() for part in t.parts) for t in tree.find_all(exp.Table)}
        read = [table for table in catalogue if table.name in named]
        return TableResult(
            sql=safe,
            columns=columns,
            rows=rows,
            tables=[table.name for table in read],
            document_ids=sorted({table.document_id for table in read}),
            sources=sorted({table.source for table in read}),
        )
