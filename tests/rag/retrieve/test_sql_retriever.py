"""Text-to-SQL: the cheap route, the catalogue the model reads, and real queries written by a real model.

Writing SQL needs the evaluation model (Qwen2.5-Coder-0.5B, `sql_model`); those tests skip without
it. The packaged SmolLM2 is too small to write SQL, but it shows that a question about no table
never reaches the model. What the guard refuses is tested on hand-written queries in
test_sql_guard.py and test_sql_exec.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.common.chat import ChatModel, Message
from rag.config import Settings
from rag.embed import Embedder
from rag.generate.local import LocalChatModel
from rag.retrieve.sql import SqlRetriever, describe, extract_sql, prompt_names, real_names, route
from rag.stores.factory import Stores
from rag.stores.sql import CatalogueTable
from tests.builders import SAMPLES, ingest_folders, open_test_stores
from tests.corpus import stable_folder
from tests.postgres import create_database, drop_database

KB = "demo"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[Stores]:
    """The sample tables (products.csv, offices.json) ingested into SQLite or a real PostgreSQL."""
    folder = stable_folder("sql-retriever-tables")
    data_dir = tmp_path_factory.mktemp("data")
    for name in ("products.csv", "offices.json"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    sql_url = ""
    if request.param == "postgres":
        sql_url = create_database(request.getfixturevalue("postgres_url"), "sql_retriever")
    settings = Settings(data_dir=data_dir, sql_url=sql_url)
    with open_test_stores(settings) as opened:
        ingest_folders(opened, embedder, {KB: folder})
        yield opened
    if sql_url:
        drop_database(request.getfixturevalue("postgres_url"), sql_url)


class CountingModel:
    """The real model, with a count of the replies asked of it."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.calls = 0
        self.name = model.name
        self.description = model.description

    def complete(self, messages: Sequence[Message], **kwargs: object) -> str:
        self.calls += 1
        return self.model.complete(messages, **kwargs)  # type: ignore[arg-type]


class FirstReplyRefused(CountingModel):
    """The real model, except that its first reply is a query the guard must refuse."""

    def complete(self, messages: Sequence[Message], **kwargs: object) -> str:
        self.calls += 1
        if self.calls == 1:
            return "DROP TABLE documents"
        return self.model.complete(messages, **kwargs)  # type: ignore[arg-type]


def catalogue_entry(name: str, columns: list[str], rows: list[list[object]]) -> CatalogueTable:
    return CatalogueTable(
        id=name,
        kb=KB,
        document_id=name,
        name=name,
        source_name=name.split("__")[-1],
        description=f"{name} from {name}.csv: {len(rows)} rows",
        columns=[{"name": column, "type": "text"} for column in columns],
        sample_rows=rows,
        row_count=len(rows),
        source=f"{name}.csv",
    )


PRODUCTS = catalogue_entry(
    "kb_demo__products", ["sku", "name", "units_sold_2024"], [["NW-100", "Shelf Scout", 4]]
)
OFFICES = catalogue_entry("kb_demo__offices", ["city", "employees", "head"], [["Munich", 64, "Lena Vogt"]])


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many units were sold in 2024?", ["kb_demo__products"]),
        ("What does the Shelf Scout cost?", ["kb_demo__products"]),  # a sample value
        ("Which office has the most employees?", ["kb_demo__offices"]),  # plural against plural
        ("How many employees work in Munich?", ["kb_demo__offices"]),
        ("When was the company founded?", []),
        ("公司是哪一年成立的？", []),
    ],
)
def test_the_route_picks_the_tables_a_question_is_about_and_none_for_other_questions(
    question: str, expected: list[str]
) -> None:
    assert [table.name for table in route(question, [PRODUCTS, OFFICES])] == expected


def test_the_model_reads_tables_as_create_statements_with_sample_rows_under_their_file_names() -> None:
    lines = describe([OFFICES, PRODUCTS]).splitlines()
    assert lines[:3] == [
        "-- kb_demo__offices from kb_demo__offices.csv: 1 rows",
        "CREATE TABLE offices (city TEXT, employees TEXT, head TEXT);",
        "INSERT INTO offices VALUES ('Munich', 64, 'Lena Vogt');",
    ]
    assert lines[3] == "" and lines[5].startswith("CREATE TABLE products (")


def test_prompt_names_are_unique_and_map_back_to_the_stored_tables() -> None:
    other_offices = replace(OFFICES, name="kb_demo__offices_2f0c", source_name="Offices")
    names = prompt_names([OFFICES, other_offices, PRODUCTS])
    assert names == {
        "offices": "kb_demo__offices",
        "offices_2": "kb_demo__offices_2f0c",
        "products": "kb_demo__products",
    }
    query = "SELECT offices.city, p.name FROM offices JOIN products AS p ON p.sku = offices.head"
    assert real_names(query, "sqlite", names) == (
        "SELECT offices.city, p.name FROM kb_demo__offices AS offices "
        "JOIN kb_demo__products AS p ON p.sku = offices.head"
    )
    # PostgreSQL keeps a KB's tables in its schema; a CTE named like a table stays the CTE
    assert real_names("SELECT * FROM offices", "postgres", {"offices": "kb_demo.offices_1"}) == (
        "SELECT * FROM kb_demo.offices_1 AS offices"
    )
    cte = "WITH offices AS (SELECT 1 AS n) SELECT n FROM offices"
    assert real_names(cte, "sqlite", names) == cte
    # a CTE's own body reads the real table of its name
    own_body = "WITH products AS (SELECT * FROM products) SELECT count(*) FROM products"
    assert real_names(own_body, "sqlite", names) == (
        "WITH products AS (SELECT * FROM kb_demo__products AS products) SELECT COUNT(*) FROM products"
    )
    for broken in ["SELECT FROM (", "SELECT name FROM offices WHERE head = 'Len"]:  # cut off mid-string
        assert real_names(broken, "sqlite", names) == broken  # for the guard to refuse, and a repair


def test_a_file_named_like_a_keyword_gets_a_name_the_model_can_write() -> None:
    names = prompt_names([replace(OFFICES, source_name="qualify"), replace(PRODUCTS, source_name="glob")])
    assert list(names) == ["qualify_", "glob_"]
    assert (
        real_names("SELECT * FROM qualify_", "sqlite", names) == "SELECT * FROM kb_demo__offices AS qualify_"
    )


@pytest.mark.parametrize(
    "reply",
    [
        "SELECT sum(units) FROM t",
        "```sql\nSELECT sum(units) FROM t\n```\nThis adds the units.",
        "Here is the query:\nSELECT sum(units) FROM t\n\nIt adds the units.",
        "```\nSELECT sum(units) FROM t\n```",
    ],
)
def test_the_query_is_taken_out_of_the_reply_without_its_prose(reply: str) -> None:
    assert extract_sql(reply) == "SELECT sum(units) FROM t"


def test_a_question_about_no_table_never_reaches_the_model(stores: Stores, smollm2: LocalChatModel) -> None:
    model = CountingModel(smollm2)
    found = SqlRetriever(stores.sql, model).gather("When was Northwind Robotics founded?", KB, 5)
    assert found.tables == [] and found.hits == []
    assert model.calls == 0


def test_a_figure_is_computed_by_a_query_the_model_wrote(stores: Stores, sql_model: LocalChatModel) -> None:
    found = SqlRetriever(stores.sql, sql_model).gather(
        "How many units of the Pallet Mover were sold in 2024?", KB, 5
    )
    [result] = found.tables
    assert result.sql.upper().startswith("SELECT") and "units_sold_2024" in result.sql
    assert (187,) in result.rows
    assert [Path(source).name for source in result.sources] == ["products.csv"]
    assert len(result.tables) == 1 and result.tables[0] in result.sql


def test_a_refused_query_gets_one_repair_with_the_reason(stores: Stores, sql_model: LocalChatModel) -> None:
    model = FirstReplyRefused(sql_model)
    found = SqlRetriever(stores.sql, model).gather(
        "What is the total number of employees of all offices?", KB, 5
    )
    assert model.calls == 2
    [result] = found.tables
    assert result.rows == [(285,)]
    with stores.sql.engine.connect() as conn:  # the refused DROP never ran
        assert conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == 2


def test_a_document_filter_keeps_the_other_documents_tables_out(
    stores: Stores, smollm2: LocalChatModel
) -> None:
    offices = next(t.document_id for t in stores.sql.tables(KB) if t.source_name == "offices")
    model = CountingModel(smollm2)
    found = SqlRetriever(stores.sql, model).gather(
        "How many units of the Pallet Mover were sold in 2024?", KB, 5, {"document_id": [offices]}
    )
    assert found.tables == [] and model.calls == 0  # only the offices table was a candidate
