"""Text-to-SQL sets (Spider, BIRD and their kin): questions with gold SQL over SQLite databases.

The layout: JSON files of records with `db_id`, `question` and the gold query (`query` in
Spider, `SQL` in BIRD, or `sql`), and each database as `<db_id>.sqlite` (or `.db`) anywhere
under the folder: Spider's `database/<db_id>/<db_id>.sqlite`, BIRD's
`dev_databases/<db_id>/<db_id>.sqlite`. BIRD's `evidence` (the hint its questions come with)
is appended to the question. Pass one file (`spider/dev.json`) to evaluate one split; a folder
reads every question file in it (`tables.json`, which holds no questions, is skipped).

As retrieval, a question's gold passages are the tables its gold query reads; each table is
ingested as `<table>.csv`, exported from the database, into the KB of its database, where it
becomes a SQL table like any CSV a user ingests. Execution accuracy then runs the gold query on
the original database and compares its rows with those of the query the SQL retriever wrote.
"""

from __future__ import annotations

import csv
import sqlite3
import time
from functools import cache
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from rag.common.reasons import one_line
from rag.evaluate.dataset import DatasetError, EvalQuestion, EvalSet, Passage, read_json, read_jsonl

#: keys that name a record's gold query, in the order the sets use them
SQL_KEYS = ("query", "SQL", "sql")
#: rows of a result compared at most; a gold result longer than this cannot be compared (the SQL
#: retriever's cap is raised to one more row for the run, so a longer prediction shows too)
MAX_RESULT_ROWS = 1000
#: a gold query running longer than this is the data set's problem, reported with its id
GOLD_TIMEOUT_S = 60.0
#: SQLite virtual-machine steps between deadline checks
_PROGRESS_STEPS = 100_000


def is_text2sql(record: Any) -> bool:
    return isinstance(record, dict) and "db_id" in record and any(key in record for key in SQL_KEYS)


def _records(path: Path) -> list[Any]:
    data = read_jsonl(path) if path.suffix == ".jsonl" else read_json(path)
    return data if isinstance(data, list) else [data]


def find_database(root: Path, db_id: str) -> Path | None:
    """`<db_id>.sqlite` or `<db_id>.db` under `root`, the shallowest first."""
    found = [p for suffix in (".sqlite", ".db") for p in root.rglob(f"{db_id}{suffix}") if p.is_file()]
    return min(found, key=lambda p: (len(p.parts), str(p))) if found else None


def table_names(database: Path) -> list[str]:
    with _read_only(database) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
    return [row[0] for row in rows]


def tables_read(sql: str) -> set[str]:
    """Lower-cased names of the tables a query reads (CTE names are not tables)."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return {table.name.lower() for table in tree.find_all(exp.Table) if table.name.lower() not in ctes}


def is_ordered(sql: str) -> bool:
    """Whether the query's own result is ordered (an ORDER BY on its outermost SELECT)."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    return tree.args.get("order") is not None


def read_text2sql(path: Path) -> EvalSet:
    root = path if path.is_dir() else path.parent
    files = (
        sorted(f for f in path.iterdir() if f.suffix in (".json", ".jsonl") and f.stem != "tables")
        if path.is_dir()
        else [path]
    )
    records = [
        (file, n, r) for file in files for n, r in enumerate(_records(file), start=1) if is_text2sql(r)
    ]
    if not records:
        raise DatasetError(
            f"{path}: no records with `db_id`, `question` and a gold query ({'/'.join(SQL_KEYS)})"
        )
    databases: dict[str, Path] = {}
    tables: dict[str, dict[str, str]] = {}  # db_id → lower-cased table name → its name
    questions = []
    for file, number, record in records:
        where = f"{file}:{number}" if file.suffix == ".jsonl" else f"{file} record {number}"
        db_id = str(record["db_id"])
        if db_id not in databases:
            database = find_database(root, db_id)
            if database is None:
                raise DatasetError(f"{where}: database {db_id!r} not found ({db_id}.sqlite under {root})")
            databases[db_id] = database
            tables[db_id] = {name.lower(): name for name in table_names(database)}
        sql = str(next(record[key] for key in SQL_KEYS if key in record)).strip()
        try:
            read = tables_read(sql)
        except sqlglot.errors.SqlglotError as exc:
            raise DatasetError(f"{where}: the gold query does not parse: {one_line(exc)}") from None
        unknown = sorted(read - set(tables[db_id]))
        if unknown:
            raise DatasetError(
                f"{where}: the gold query reads tables not in {databases[db_id].name}: {unknown}"
            )
        question = str(record.get("question") or "").strip()
        if not question:
            raise DatasetError(f"{where}: no `question`")
        if record.get("evidence"):
            question = f"{question} ({str(record['evidence']).strip()})"
        qid = str(record.get("question_id", record.get("id", f"{db_id}-{len(questions)}")))
        gold = {f"{db_id}/{tables[db_id][name]}": 1 for name in sorted(read)}
        questions.append(EvalQuestion(qid, question, gold, group=db_id, sql=sql))
    passages = [
        Passage(f"{db_id}/{name}", name, "", group=db_id, database=databases[db_id])
        for db_id in databases
        for name in tables[db_id].values()
    ]
    return EvalSet(path.stem if path.is_file() else path.name, passages, questions)


def export_table(passage: Passage, target: Path) -> None:
    """The table as CSV (header, then rows streamed from the database; NULL as an empty cell)."""
    assert passage.database is not None
    partial = target.with_suffix(".partial")
    with _read_only(passage.database) as conn, partial.open("w", encoding="utf-8", newline="") as out:
        cursor = conn.execute(f"SELECT * FROM {_quoted(passage.title)}")
        writer = csv.writer(out)
        writer.writerow([column[0] for column in cursor.description])
        for rows in iter(lambda: cursor.fetchmany(1000), []):
            writer.writerows([_csv_cell(value) for value in row] for row in rows)
    partial.replace(target)


@cache
def gold_result(database: Path, sql: str) -> list[tuple[Any, ...]]:
    """The gold query's rows (at most MAX_RESULT_ROWS + 1, so that a longer result shows), run
    read-only; a failure names the query."""
    deadline = time.monotonic() + GOLD_TIMEOUT_S
    with _read_only(database) as conn:
        conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            return [tuple(row) for row in conn.execute(sql).fetchmany(MAX_RESULT_ROWS + 1)]
        except sqlite3.Error as exc:
            raise DatasetError(f"{database.name}: the gold query failed ({exc}): {sql}") from None


class _read_only:
    """A read-only connection to a SQLite file, closed on exit (sqlite3's own context manager
    only ends the transaction)."""

    def __init__(self, database: Path) -> None:
        self.conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
        self.conn.text_factory = lambda raw: raw.decode("utf-8", errors="replace")

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *_exc: object) -> None:
        self.conn.close()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return value.hex() if isinstance(value, bytes) else value


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
