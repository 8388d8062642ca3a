"""Text-to-SQL: the cheap route, the catalogue the model reads, and real queries written by a real model.

Writing SQL needs the evaluation model (Qwen2.5-Coder-0.5B, `sql_model`); those tests skip without
it. The packaged SmolLM2 is too small to write SQL, but it shows that a question the route skips
(about no table, or naming only a table's values) never reaches the model. What the guard refuses
is tested on hand-written queries in test_sql_guard.py and test_sql_exec.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.common.chat import ChatModel, Message
from rag.config import Settings
from rag.embed import Embedder
from rag.generate.local import LocalChatModel
from rag.retrieve.keyword import KeywordRetriever
from rag.retrieve.sql import SqlRetriever, describe, extract_sql, prompt_names, real_names
from rag.retrieve.sql_prompts import declines
from rag.retrieve.sql_route import cue, route
from rag.stores.factory import Stores
from rag.stores.sql import CatalogueTable
from tests.builders import SAMPLES, ingest_folders, open_test_stores
from tests.corpus import stable_folder
from tests.postgres import create_database, drop_database

KB = "demo"


HELPDESK = "helpdesk"
#: a help desk's tickets, a KB of their own: "how many … high priority?" needs the table
TICKETS = """ticket_id,subject,priority,status
T-1,Printer jams on tray 2,high,open
T-2,Password reset for the VPN,low,closed
T-3,Laptop does not boot,high,open
T-4,New monitor request,medium,open
T-5,Server room too warm,high,closed
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[Stores]:
    """The sample tables (products.csv, offices.json) and, in KB `helpdesk`, tickets.csv, ingested
    into SQLite or a real PostgreSQL."""
    folder = stable_folder("sql-retriever-tables")
    for name in ("products.csv", "offices.json"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    helpdesk = stable_folder("sql-retriever-tickets")
    (helpdesk / "tickets.csv").write_text(TICKETS, encoding="utf-8")
    data_dir = tmp_path_factory.mktemp("data")
    sql_url = ""
    if request.param == "postgres":
        sql_url = create_database(request.getfixturevalue("postgres_url"), "sql_retriever")
    settings = Settings(data_dir=data_dir, sql_url=sql_url)
    with open_test_stores(settings) as opened:
        ingest_folders(opened, embedder, {KB: folder, HELPDESK: helpdesk})
        yield opened
    if sql_url:
        drop_database(request.getfixturevalue("postgres_url"), sql_url)


def routed(caplog: pytest.LogCaptureFixture) -> str:
    """The one `event=sql_route` line the SQL retriever logged."""
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=sql_route")]
    return line


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


SALES = catalogue_entry("kb_demo__销售", ["产品", "价格", "城市"], [["扫地机器人", "1999", "深圳"]])


@pytest.mark.fast
@pytest.mark.parametrize(
    ("question", "decision", "expected"),
    [
        ("How many units were sold in 2024?", "sure", ["kb_demo__products"]),
        ("Which office has the most employees?", "sure", ["kb_demo__offices"]),  # plural against plural
        ("How many employees work in Munich?", "sure", ["kb_demo__offices"]),
        ("Who is the head of the Munich office?", "ask", ["kb_demo__offices"]),  # names column `head`
        # a sample value and the table's name, no cue: the rows are indexed as text too
        ("Who leads the Munich office?", "skip", []),
        ("What does the Shelf Scout cost?", "skip", []),  # a sample value only
        ("When was the company founded?", "skip", []),
        ("公司是哪一年成立的？", "skip", []),
        ("深圳一共有多少产品？", "sure", ["kb_demo__销售"]),
        ("扫地机器人的价格是？", "ask", ["kb_demo__销售"]),  # names column 价格
        ("深圳的办公室在哪里？", "skip", []),  # names a value (深圳) only
    ],
)
def test_the_route_sends_only_questions_that_need_a_table_to_the_model(
    question: str, decision: str, expected: list[str]
) -> None:
    routed = route(question, [PRODUCTS, OFFICES, SALES])
    assert (routed.decision, [table.name for table in routed.tables]) == (decision, expected)


@pytest.mark.fast
@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many tickets are high priority?", "count"),
        ("What is the total revenue of 2024?", "sum"),
        ("What is the average price of a robot?", "average"),
        ("Which products cost more than 10000 euros?", "compare"),
        ("Is the Pick Arm cheaper than the Pallet Mover?", "compare"),
        ("Which offices opened after 2018?", "compare"),
        ("Which office has the most employees?", "rank"),
        ("What are the top 3 products by units sold?", "rank"),
        ("List all offices in Germany.", "list"),
        ("Which products were launched in 2021?", "list"),  # a plural after "which"
        ("一共有几个办公室？", "count"),
        ("产品总共卖了多少台？", "count"),
        ("员工的平均人数是多少？", "count"),  # 多少 is found before 平均; either routes it
        ("平均价格？", "average"),
        ("哪些产品的价格超过一万欧元？", "compare"),
        ("员工最多的办公室是哪个？", "rank"),
        ("按销量排名前三的产品", "rank"),
        ("列出深圳的产品", "list"),
        ("哪些办公室在德国？", "list"),
    ],
)
def test_cues_of_row_work_are_found_in_english_and_chinese(question: str, kind: str) -> None:
    assert cue(question) == kind


@pytest.mark.fast
@pytest.mark.parametrize(
    "question",
    [
        "Who leads the Shenzhen office?",
        "Where is the Shenzhen office?",
        "Which city is the Shenzhen office in?",  # "which" before a singular: one thing
        "Which is the office in China?",
        "What does the support team do over the weekend?",  # "over" with no figure after it
        "How do I reset my password?",
        "深圳办公室的负责人是谁？",
        "最近深圳办公室怎么样？",  # 最近 is "recently", not a superlative
        "比如说，深圳办公室在哪里？",  # 比如 is "for example", not a comparison
    ],
)
def test_questions_of_one_fact_have_no_cue(question: str) -> None:
    assert cue(question) is None


@pytest.mark.fast
@pytest.mark.parametrize(
    ("reply", "declined"),
    [
        ("NO_SQL", True),
        ("no_sql\n", True),
        ("NO SQL: the tables hold no such thing.", True),
        ("SELECT head FROM offices WHERE city = 'Munich'", False),
        ("SELECT 'NO_SQL' AS answer", False),  # a query that mentions the token is a query
        ("```sql\nSELECT count(*) FROM tickets\n```", False),
    ],
)
def test_the_model_declines_with_its_token_before_any_query(reply: str, declined: bool) -> None:
    assert declines(reply) is declined


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


def test_a_text_question_naming_a_tables_value_skips_the_model_and_the_text_answers_it(
    stores: Stores, smollm2: LocalChatModel, caplog: pytest.LogCaptureFixture
) -> None:
    """offices.json holds "Shenzhen" and is a table named offices, but the question counts, ranks
    and lists nothing and names no column: writing a query would only delay the first token."""
    question = "Who leads the Shenzhen office?"
    model = CountingModel(smollm2)
    with caplog.at_level(logging.INFO, logger="rag.retrieve.sql"):
        found = SqlRetriever(stores.sql, model).gather(question, KB, 5)
    assert found.tables == [] and model.calls == 0
    line = routed(caplog)
    assert "decision=skip why=values_only tables=0" in line and "Shenzhen" not in line
    # the rows are indexed as text too, so the text retrievers have the answer
    assert "Chen Wei" in KeywordRetriever(stores.sql).retrieve(question, KB, 5)[0].text


def test_a_count_over_a_tickets_table_is_written_by_the_model_and_run(
    stores: Stores, sql_model: LocalChatModel, caplog: pytest.LogCaptureFixture
) -> None:
    model = CountingModel(sql_model)
    with caplog.at_level(logging.INFO, logger="rag.retrieve.sql"):
        found = SqlRetriever(stores.sql, model).gather("How many tickets are high priority?", HELPDESK, 5)
    assert "decision=sure why=count tables=1" in routed(caplog)
    assert model.calls == 1  # no NO_SQL offered, nothing to repair
    [result] = found.tables
    assert result.rows == [(3,)], result.sql
    assert "priority" in result.sql and [Path(source).name for source in result.sources] == ["tickets.csv"]


def test_a_figure_is_computed_by_a_query_the_model_wrote(stores: Stores, sql_model: LocalChatModel) -> None:
    found = SqlRetriever(stores.sql, sql_model).gather(
        "How many units of the Pallet Mover were sold in 2024?", KB, 5
    )
    [result] = found.tables
    assert result.sql.upper().startswith("SELECT") and "units_sold_2024" in result.sql
    assert (187,) in result.rows
    assert [Path(source).name for source in result.sources] == ["products.csv"]
    assert len(result.tables) == 1 and result.tables[0] in result.sql


def test_a_question_naming_a_column_is_left_to_the_models_vote_in_the_same_call(
    stores: Stores, sql_model: LocalChatModel, caplog: pytest.LogCaptureFixture
) -> None:
    """No cue, but `price_eur` is named: the model writes the query, or answers NO_SQL for a
    question no row answers, which is no failure and gets no repair."""
    model = CountingModel(sql_model)
    with caplog.at_level(logging.INFO, logger="rag.retrieve.sql"):
        found = SqlRetriever(stores.sql, model).gather("What is the price of the Pallet Mover?", KB, 5)
    assert "decision=ask why=column" in routed(caplog) and model.calls == 1
    [result] = found.tables
    assert "price_eur" in result.sql and [float(row[0]) for row in result.rows] == [42900.0]
    caplog.clear()
    model.calls = 0
    with caplog.at_level(logging.INFO, logger="rag.retrieve.sql"):
        found = SqlRetriever(stores.sql, model).gather("What is the name of the company?", KB, 5)
    assert "decision=ask why=column" in routed(caplog)  # `name` is a column of products.csv
    assert found.tables == [] and model.calls == 1
    assert any(r.getMessage() == f"event=sql_vote kb={KB} vote=no_sql" for r in caplog.records)


def test_a_refused_query_gets_one_repair_with_the_reason(stores: Stores, sql_model: LocalChatModel) -> None:
    model = FirstReplyRefused(sql_model)
    found = SqlRetriever(stores.sql, model).gather(
        "What is the total number of employees of all offices?", KB, 5
    )
    assert model.calls == 2
    [result] = found.tables
    assert result.rows == [(285,)]
    with stores.sql.engine.connect() as conn:  # the refused DROP never ran
        assert conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == 3


def test_a_document_filter_keeps_the_other_documents_tables_out(
    stores: Stores, smollm2: LocalChatModel
) -> None:
    offices = next(t.document_id for t in stores.sql.tables(KB) if t.source_name == "offices")
    model = CountingModel(smollm2)
    found = SqlRetriever(stores.sql, model).gather(
        "How many units of the Pallet Mover were sold in 2024?", KB, 5, {"document_id": [offices]}
    )
    assert found.tables == [] and model.calls == 0  # only the offices table was a candidate
