"""Text-to-SQL sets: the Spider and BIRD layouts read into an `EvalSet`, tables exported per
database, gold queries run, results compared as Spider's execution accuracy compares them, and
`rag eval` end to end with a model that writes SQL."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli.app import app
from rag.evaluate.dataset import DatasetError, EvalQuestion, EvalSet, Passage
from rag.evaluate.formats import detect, load
from rag.evaluate.metrics import result_cell, same_result
from rag.evaluate.runner import execution_scores, group_kbs, write_corpus
from rag.evaluate.text2sql import MAX_RESULT_ROWS, gold_result, is_ordered, tables_read
from rag.generate.local import LocalChatModel
from rag.models import TableResult
from rag.retrieve.fused import Retrieval
from tests.rag.evaluate.text2sql_slice import QUESTIONS, write_spider_slice


@pytest.fixture
def spider(tmp_path: Path) -> Path:
    return write_spider_slice(tmp_path / "spider")


def test_the_spider_layout_is_detected_and_read_by_database(spider: Path) -> None:
    assert detect(spider) == "text2sql"
    assert detect(spider / "dev.json") == "text2sql"
    loaded = load(spider)
    assert loaded.name == "spider" and loaded.has_sql
    assert loaded.groups == ["concert_singer", "shop"]
    assert [p.id for p in loaded.passages] == [
        "concert_singer/singer",
        "concert_singer/concert",
        "concert_singer/staff",
        "shop/product",
        "shop/staff",
    ]
    assert len(loaded.questions) == len(QUESTIONS)
    join = loaded.questions[3]
    assert join.gold == {"concert_singer/concert": 1, "concert_singer/singer": 1}  # both tables it reads
    assert (join.group, join.sql) == ("concert_singer", QUESTIONS[3][2])
    assert loaded.questions[5].gold == {"shop/staff": 1}  # same table name, the other database
    assert group_kbs(loaded, "eval-x") == {"concert_singer": "eval-x-concert-singer", "shop": "eval-x-shop"}
    # --limit keeps the databases its questions ask about, each a KB of its own
    first = loaded.limited(2)
    assert first.groups == ["concert_singer"] and len(first.passages) == 3
    assert first.content_hash() == loaded.content_hash()  # the same files and KBs as a whole run


def test_groups_that_slug_alike_get_kbs_of_their_own() -> None:
    eval_set = EvalSet("x", [Passage("1", "t", "", group="a_b"), Passage("2", "t", "", group="a-b")], [])
    assert group_kbs(eval_set, "kb") == {"a_b": "kb-a-b", "a-b": "kb-a-b-"}


def test_the_bird_layout_with_evidence_and_its_own_keys(tmp_path: Path) -> None:
    write_spider_slice(tmp_path / "src")
    bird = tmp_path / "bird"
    (bird / "dev_databases").mkdir(parents=True)
    (tmp_path / "src" / "database" / "shop").rename(bird / "dev_databases" / "shop")
    record = {
        "question_id": 7,
        "db_id": "shop",
        "question": "Which lamps cost less than 50?",
        "evidence": "lamps refers to category = 'lighting'",
        "SQL": "SELECT product_name FROM product WHERE category = 'lighting' AND price < 50",
    }
    (bird / "dev.json").write_text(json.dumps([record]))
    loaded = load(bird / "dev.json")
    question = loaded.questions[0]
    assert question.id == "7" and question.gold == {"shop/product": 1}
    assert question.question == "Which lamps cost less than 50? (lamps refers to category = 'lighting')"
    assert gold_result(loaded.passages[0].database, question.sql) == [("Desk lamp",)]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"db_id": "nowhere", "question": "q", "query": "SELECT 1"}, "database 'nowhere' not found"),
        (
            {"db_id": "shop", "question": "q", "query": "SELECT * FROM invoices"},
            r"tables not in shop.sqlite: \['invoices'\]",
        ),
        ({"db_id": "shop", "question": "q", "query": "SELECT FROM WHERE ("}, "the gold query does not parse"),
        ({"db_id": "shop", "question": "q", "query": "SELECT 'unclosed"}, "the gold query does not parse"),
        ({"db_id": "shop", "query": "SELECT 1 FROM product"}, "no `question`"),
    ],
)
def test_bad_records_name_the_file_the_record_and_the_problem(
    spider: Path, record: dict[str, str], message: str
) -> None:
    (spider / "dev.json").write_text(json.dumps([record]))
    with pytest.raises(DatasetError, match=message) as raised:
        load(spider)
    assert "dev.json record 1" in str(raised.value)


def test_a_failing_gold_query_is_the_data_sets_error(spider: Path) -> None:
    database = spider / "database" / "shop" / "shop.sqlite"
    with pytest.raises(DatasetError, match=r"the gold query failed .*no such column: colour"):
        gold_result(database, "SELECT colour FROM product")
    with pytest.raises(DatasetError, match="attempt to write a readonly database"):
        gold_result(database, "DELETE FROM product")
    assert gold_result(database, "SELECT count(*) FROM product") == [(4,)]


def test_each_database_gets_a_folder_and_its_tables_become_csv_files(spider: Path, tmp_path: Path) -> None:
    loaded = load(spider)
    folders, passage_of = write_corpus(loaded, tmp_path / "data")
    assert set(folders) == {"concert_singer", "shop"}
    staff = folders["shop"] / "staff.csv"
    assert passage_of[str(staff)] == "shop/staff"
    with staff.open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows == [
        ["staff_id", "name", "department"],
        ["1", "Chen Wei", "sales"],
        ["2", "Dana Fox", "sales"],
        ["3", "Eli Moss", "stock"],
    ]
    assert sorted(p.name for p in folders["concert_singer"].iterdir()) == [
        "concert.csv",
        "singer.csv",
        "staff.csv",
    ]


def test_the_gold_tables_and_order_of_a_query() -> None:
    assert tables_read(
        "WITH t AS (SELECT * FROM Singer) SELECT count(*) FROM t JOIN concert USING (singer_id)"
    ) == {
        "singer",
        "concert",
    }
    assert is_ordered("SELECT name FROM singer ORDER BY age")
    assert not is_ordered("SELECT name FROM (SELECT name, age FROM singer ORDER BY age LIMIT 3)")


def test_cells_from_both_databases_meet() -> None:
    assert result_cell(1) == result_cell(1.0) == result_cell(Decimal("1.00")) == result_cell("1") == 1.0
    assert result_cell(2 / 3) == result_cell(Decimal("0.66667")) == 0.6667
    assert result_cell(True) == 1.0 and result_cell(None) is None
    assert result_cell(date(2024, 3, 1)) == result_cell("2024-03-01") == "2024-03-01"
    assert (
        result_cell(datetime(2024, 3, 1, 9, 30))
        == result_cell("2024-03-01 09:30:00.000000")
        == "2024-03-01 09:30:00"
    )
    assert result_cell(" France ") == "France" and result_cell(b"\x01") == "01"


def test_cells_typed_by_the_csv_round_trip_still_meet() -> None:
    # the gold side as SQLite kept it, the predicted side as the ingested CSV typed it
    assert same_result([("yes",), ("no",)], [(True,), (False,)], ordered=True)
    assert same_result([("12",), ("N/A",), ("",)], [(12,), (None,), (None,)], ordered=True)
    assert same_result([("N/A",), ("",)], [("N/A",), (None,)], ordered=True)  # a text column keeps N/A
    assert same_result([("2008/1/2",)], [(date(2008, 1, 2),)], ordered=True)
    assert not same_result([("2008/1/2",)], [(date(2008, 2, 1),)], ordered=True)


def test_results_compare_as_multisets_in_order_only_when_asked_up_to_column_order() -> None:
    gold = [("France", 3), ("Netherlands", 1)]
    assert same_result(gold, [("Netherlands", 1), ("France", 3)], ordered=False)
    assert not same_result(gold, [("Netherlands", 1), ("France", 3)], ordered=True)
    assert same_result(gold, [(3, "France"), (1, "Netherlands")], ordered=True)  # columns swapped
    assert not same_result(gold, [("France", 3)], ordered=False)  # a row missing
    assert not same_result(gold, [("France", 3), ("France", 3)], ordered=False)  # multiset, not set
    assert not same_result(gold, [("France", 3, "x"), ("Netherlands", 1, "y")], ordered=False)
    assert not same_result([(1, 2), (3, 4)], [(1, 4), (3, 2)], ordered=False)  # cells stay in their rows
    assert same_result([], [], ordered=False)


def test_a_gold_result_too_long_to_compare_counts_as_wrong(spider: Path) -> None:
    database = spider / "database" / "shop" / "shop.sqlite"
    many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) SELECT i FROM n"
    rows = gold_result(database, many)
    assert len(rows) == MAX_RESULT_ROWS + 1
    question = EvalQuestion("q", "?", {"shop/product": 1}, group="shop", sql=many)
    same_rows = TableResult(many, ["i"], rows, [], [], [])
    found = Retrieval(hits=[], results={}, tables=[same_rows])
    assert execution_scores(found, question, database) == {
        "execution_accuracy": 0.0,
        "query_ran": 1.0,
        "too_large": 1.0,
    }
    small = EvalQuestion("q", "?", {"shop/product": 1}, group="shop", sql="SELECT count(*) FROM product")
    counted = Retrieval(hits=[], results={}, tables=[TableResult("", ["n"], [(4,)], [], [], [])])
    assert execution_scores(counted, small, database)["execution_accuracy"] == 1.0
    assert execution_scores(Retrieval(hits=[], results={}), small, database)["query_ran"] == 0.0


@pytest.mark.slow
def test_rag_eval_on_a_text_to_sql_set_reports_execution_accuracy(
    spider: Path, tmp_path: Path, sql_model: LocalChatModel, data_with_models: Path
) -> None:
    env = {"RAG_DATA_DIR": str(data_with_models), "RAG_LLM_MODEL": str(sql_model.source.path)}
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["eval", str(spider), "--json", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    details = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    assert [d["question"] for d in details] == [q for _, q, _ in QUESTIONS]
    assert all(d["sql"]["gold"] == gold for d, (_, _, gold) in zip(details, QUESTIONS, strict=True))
    sql_details = [d["sql"] for d in details]
    assert set(report["retrievers"]) == {"vector", "keyword", "graph", "sql", "fused"}
    assert report["settings"]["sql_max_rows"] == 1001  # one more than compared: a longer result shows
    sql = report["sql"]
    assert set(sql) == {"execution_accuracy", "query_ran", "too_large"} and sql["too_large"] == 0
    ran = [d for d in sql_details if d["predicted"]]
    assert sql["query_ran"] == len(ran) / len(details) >= 0.5, sql_details
    assert all(d["failure"] for d in sql_details if not d["predicted"]), sql_details
    # "How many staff are there?" and the like: a 0.5B coder gets the simple ones right
    assert sql["execution_accuracy"] == sum(d["correct"] for d in sql_details) / len(details)
    assert 0.25 <= sql["execution_accuracy"] <= sql["query_ran"], sql_details
    # each database's own staff table answered its question: 2 in one, 3 in the other
    staff = [d for d in details if d["question"] == "How many staff are there?"]
    assert [d["gold"] for d in staff] == [["concert_singer/staff"], ["shop/staff"]]
    # the sql retriever's ranking is the tables its queries read
    assert report["retrievers"]["sql"]["recall@10"] >= 0.5
