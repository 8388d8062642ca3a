"""Tables of a knowledge base materialised as real SQL tables, on SQLite and a real PostgreSQL.

The PostgreSQL runs get a database of their own on the session's server, so the schemas
created here never meet those of other tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rag.models import Column, Table
from rag.stores.sql.kb_tables import (
    MAX_IDENTIFIER_BYTES,
    drop_kb_namespace,
    drop_table,
    kb_namespace,
    sql_identifier,
    write_table,
)
from tests.postgres import create_database, drop_database


@pytest.fixture(scope="module")
def postgres_database(postgres_url: str) -> Iterator[str]:
    url = create_database(postgres_url, "kb_tables")
    yield url
    drop_database(postgres_url, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tables.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    engine = sa.create_engine(url)
    yield engine
    if request.param == "postgresql":
        with engine.begin() as conn:
            for kb in ("sales", "Sales", "alpha", "beta", "销售"):
                drop_kb_namespace(conn, kb)
    engine.dispose()


def orders() -> Table:
    return Table(
        name="orders",
        columns=[
            Column("id", "integer"),
            Column("big", "integer"),
            Column("amount", "decimal"),
            Column("day", "date"),
            Column("at", "datetime"),
            Column("paid", "boolean"),
            Column("region", "text"),
        ],
        rows=[
            [1, 2**40, Decimal("0.10"), date(2024, 3, 1), datetime(2024, 3, 1, 9, 30), True, "华东"],
            [2, 1, Decimal("0.20"), date(2024, 3, 2), datetime(2024, 3, 2, 10, 0), False, "华南"],
            [3, None, None, None, None, None, None],
        ],
    )


def reflect(conn: Connection, qualified: str) -> sa.Table:
    schema, _, name = qualified.rpartition(".")
    return sa.Table(name, sa.MetaData(), autoload_with=conn, schema=schema or None)


def count(conn: Connection, qualified: str) -> int:
    return conn.scalar(sa.text(f"SELECT count(*) FROM {qualified}"))


def test_columns_are_typed_in_the_database(engine: Engine) -> None:
    with engine.begin() as conn:
        qualified = write_table(conn, "sales", "orders", orders())
        types = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(*reversed(qualified.split(".")))}
    assert isinstance(types["id"], sa.Integer) and not isinstance(types["id"], sa.BigInteger)
    assert isinstance(types["big"], sa.BigInteger)
    assert isinstance(types["amount"], sa.Numeric) and not isinstance(types["amount"], sa.Float)
    assert isinstance(types["day"], sa.Date)
    assert isinstance(types["at"], sa.DateTime)
    assert isinstance(types["paid"], sa.Boolean)
    assert isinstance(types["region"], sa.Text)


def test_values_come_back_typed_and_aggregate(engine: Engine) -> None:
    with engine.begin() as conn:
        qualified = write_table(conn, "sales", "orders", orders())
    with engine.connect() as conn:
        total, latest, paid = conn.execute(
            sa.text(f"SELECT sum(amount), max(at), sum(CASE WHEN paid THEN 1 ELSE 0 END) FROM {qualified}")
        ).one()
        table = reflect(conn, qualified)
        rows = conn.execute(sa.select(table).order_by(table.c.id)).all()
    assert rows[0] == (1, 2**40, Decimal("0.10"), date(2024, 3, 1), datetime(2024, 3, 1, 9, 30), True, "华东")
    assert rows[2] == (3, None, None, None, None, None, None)
    assert paid == 1
    if engine.dialect.name == "postgresql":
        assert total == Decimal("0.30")  # NUMERIC: exact
        assert latest == datetime(2024, 3, 2, 10, 0)
    else:
        assert total == pytest.approx(0.30)  # SQLite keeps decimals as 8-byte floats
        assert latest == "2024-03-02 10:00:00.000000"


def test_qualified_name_and_unicode_identifiers_work_unquoted(engine: Engine) -> None:
    table = Table("销售", [Column("地区", "text"), Column("金额", "decimal")], [["华东", Decimal("12.5")]])
    with engine.begin() as conn:
        qualified = write_table(conn, "销售", "销售 明细 2024", table)
        assert conn.scalar(sa.text(f"SELECT 金额 FROM {qualified} WHERE 地区 = '华东'")) == pytest.approx(
            12.5
        )
    assert qualified.endswith("销售_明细_2024")
    assert qualified.startswith(kb_namespace("销售"))


def test_rewriting_a_table_replaces_it(engine: Engine) -> None:
    with engine.begin() as conn:
        first = write_table(conn, "sales", "orders", orders())
    changed = Table("orders", [Column("sku", "text"), Column("qty", "integer")], [["a-1", 5]])
    with engine.begin() as conn:
        second = write_table(conn, "sales", "orders", changed)
        assert second == first
        assert [c.name for c in reflect(conn, second).columns] == ["sku", "qty"]
        assert count(conn, second) == 1


def test_large_tables_go_in_batches(engine: Engine) -> None:
    rows = [[i, Decimal(i) / 4] for i in range(12_345)]
    table = Table("big", [Column("n", "integer"), Column("quarter", "decimal")], rows)
    with engine.begin() as conn:
        qualified = write_table(conn, "sales", "big", table)
        assert count(conn, qualified) == 12_345
        assert conn.scalar(sa.text(f"SELECT sum(n) FROM {qualified}")) == sum(range(12_345))


def test_knowledge_bases_are_isolated(engine: Engine) -> None:
    with engine.begin() as conn:
        alpha = write_table(conn, "alpha", "orders", orders())
        beta = write_table(conn, "beta", "orders", Table("orders", [Column("id", "integer")], [[9]]))
        assert alpha != beta
        assert (count(conn, alpha), count(conn, beta)) == (3, 1)
        with pytest.raises(ValueError, match="not a table of knowledge base"):
            drop_table(conn, "alpha", beta)
        drop_kb_namespace(conn, "alpha")
        names = sa.inspect(conn)
        if engine.dialect.name == "postgresql":
            assert kb_namespace("alpha") not in names.get_schema_names()
            assert names.get_table_names(schema=kb_namespace("beta")) == ["orders"]
        else:
            assert not [n for n in names.get_table_names() if n.startswith(kb_namespace("alpha"))]
        assert count(conn, beta) == 1
        drop_kb_namespace(conn, "alpha")  # dropping what is gone is a no-op


def test_drop_table_removes_only_that_table(engine: Engine) -> None:
    with engine.begin() as conn:
        orders_name = write_table(conn, "sales", "orders", orders())
        other = write_table(conn, "sales", "other", Table("other", [Column("id", "integer")], [[1]]))
        drop_table(conn, "sales", orders_name)
        drop_table(conn, "sales", orders_name)
        tables = sa.inspect(conn)
        schema, _, name = other.rpartition(".")
        assert tables.get_table_names(schema=schema or None).count(name) == 1
        assert not tables.has_table(orders_name.rpartition(".")[2], schema=schema or None)


def test_a_kb_name_that_differs_only_in_case_has_its_own_namespace(engine: Engine) -> None:
    with engine.begin() as conn:
        lower = write_table(conn, "sales", "orders", orders())
        upper = write_table(conn, "Sales", "orders", Table("orders", [Column("id", "integer")], [[1]]))
        assert lower != upper
        drop_kb_namespace(conn, "sales")
        assert count(conn, upper) == 1


def test_unsafe_or_duplicate_column_names_are_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        for columns in ([Column("Amount", "integer")], [Column("a", "integer"), Column("a", "text")]):
            with pytest.raises(ValueError):
                write_table(conn, "sales", "bad", Table("bad", columns, [[1] * len(columns)]))
        with pytest.raises(ValueError, match="unknown type"):
            write_table(conn, "sales", "bad", Table("bad", [Column("a", "float")], []))


@pytest.mark.parametrize(
    ("kb", "expected"),
    [("sales", "kb_sales"), ("team_2", "kb_team_2")],
)
def test_clean_kb_names_keep_their_name(kb: str, expected: str) -> None:
    assert kb_namespace(kb) == expected


def test_kb_namespaces_are_safe_short_and_distinct() -> None:
    names = [
        "sales",
        "Sales",
        "sales-eu",
        "sales_eu",
        "销售",
        "市场",
        "a__b",
        "a_b",
        "x" * 200,
        "x" * 201,
        "_",
        "",
    ]
    spaces = [kb_namespace(name) for name in names]
    assert len(set(spaces)) == len(names)
    for space in spaces:
        assert re.fullmatch(r"kb_[a-z0-9]+(?:_[a-z0-9]+)*", space), space
        assert len(space) <= 32


def test_identifiers_are_safe_and_bounded() -> None:
    assert sql_identifier("Order", "column") == "order_"
    assert sql_identifier("2024 Sales", "table") == "table_2024_sales"
    assert sql_identifier("!!", "table") == "table_"
    long_a, long_b = sql_identifier("销" * 40 + "a", "table"), sql_identifier("销" * 40 + "b", "table")
    assert long_a != long_b
    assert max(len(long_a.encode()), len(long_b.encode())) <= MAX_IDENTIFIER_BYTES
    assert sql_identifier(long_a, "table") == long_a
