"""Checked SQL run against real tables of two knowledge bases, on SQLite and a real PostgreSQL.

The tables are materialised as ingestion does (`kb_tables.write_table`), so the names the
guard allows are the ones the catalogue lists. Besides results, these tests show the
database's own defences: a write that got past the guard is refused by the read-only
transaction, and a query that runs too long is cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rag.models import Column, Table
from rag.retrieve.sql_exec import QueryFailed, QueryTimeout, rows_as_markdown, run_guarded
from rag.retrieve.sql_guard import UnsafeSQL, check_sql
from rag.stores.sql.kb_tables import drop_kb_namespace, write_table
from tests.postgres import create_database, drop_database
from tests.rag.retrieve.sql_attacks import ATTACKS, Attack, attack_id

TIMEOUT_S = 0.5
#: Generous: the cancelled queries would run for hours; this only has to beat "never".
CANCELLED_WITHIN_S = 30.0


@pytest.fixture(scope="module")
def postgres_database(postgres_url: str) -> Iterator[str]:
    url = create_database(postgres_url, "sql_exec")
    yield url
    drop_database(postgres_url, url)


@dataclass
class Store:
    engine: Engine
    dialect: str
    orders: str  # qualified names, as the catalogue gives them
    numbers: str
    secrets: str  # a table of another knowledge base

    def check(self, sql: str, **kwargs: int) -> str:
        return check_sql(sql, self.dialect, {self.orders, self.numbers}, **kwargs)

    def count_orders(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {self.orders}")).scalar_one()


def orders() -> Table:
    return Table(
        name="orders",
        columns=[
            Column("id", "integer"),
            Column("region", "text"),
            Column("amount", "decimal"),
            Column("day", "date"),
            Column("paid", "boolean"),
        ],
        rows=[
            [1, "华东", Decimal("10.50"), date(2024, 3, 1), True],
            [2, "华东", Decimal("4.25"), date(2024, 3, 2), False],
            [3, "华南", Decimal("7.00"), date(2024, 4, 1), True],
            [4, "north | west", None, None, None],
        ],
    )


def numbers(count: int) -> Table:
    return Table(name="numbers", columns=[Column("n", "integer")], rows=[[n] for n in range(count)])


def secrets() -> Table:
    return Table(name="secrets", columns=[Column("token", "text")], rows=[["s3cr3t"]])


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        # one pooled connection, so the test sees the very connection run_guarded used
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'rag.sqlite3'}", pool_size=1, max_overflow=0)
    else:
        url = request.getfixturevalue("postgres_database")  # pre-ping, as the SQL store's engine
        engine = sa.create_engine(url, pool_size=1, max_overflow=0, pool_pre_ping=True)
    with engine.begin() as conn:
        names = (
            write_table(conn, "sales", "orders", orders()),
            write_table(conn, "sales", "numbers", numbers(300)),
            write_table(conn, "other", "secrets", secrets()),
        )
    yield Store(engine, "sqlite" if request.param == "sqlite" else "postgres", *names)
    if request.param == "postgresql":
        with engine.begin() as conn:
            for kb in ("sales", "other"):
                drop_kb_namespace(conn, kb)
    engine.dispose()


def test_a_checked_query_returns_typed_rows(store: Store) -> None:
    sql = store.check(
        f"SELECT region, count(*) AS n, sum(amount) AS total, max(day) AS last "
        f"FROM {store.orders} WHERE amount IS NOT NULL GROUP BY region ORDER BY region"
    )
    columns, rows = run_guarded(store.engine, sql, timeout_s=5, max_rows=10)
    assert columns == ["region", "n", "total", "last"]
    assert [(region, n) for region, n, _, _ in rows] == [("华东", 2), ("华南", 1)]
    totals = [Decimal(str(total)) for _, _, total, _ in rows]
    assert totals == [Decimal("14.75"), Decimal("7")]
    # PostgreSQL hands back dates; SQLite stores them as ISO text
    assert [str(last) for _, _, _, last in rows] == ["2024-03-02", "2024-04-01"]


def test_joins_ctes_and_text_that_looks_like_placeholders_run(store: Store) -> None:
    sql = store.check(
        f"WITH paid AS (SELECT id, region FROM {store.orders} WHERE paid) "
        f"SELECT p.region, x.n FROM paid AS p JOIN {store.numbers} AS x ON x.n = p.id "
        f"WHERE p.region LIKE '%东%' AND p.region <> ':region' ORDER BY x.n"
    )
    assert run_guarded(store.engine, sql, timeout_s=5, max_rows=10) == (["region", "n"], [("华东", 1)])


def test_at_most_max_rows_come_back(store: Store) -> None:
    sql = store.check(f"SELECT n FROM {store.numbers} ORDER BY n", max_rows=50)
    columns, rows = run_guarded(store.engine, sql, timeout_s=5, max_rows=3)
    assert (columns, rows) == (["n"], [(0,), (1,), (2,)])
    _, rows = run_guarded(store.engine, sql, timeout_s=5, max_rows=1000)
    assert len(rows) == 50  # the guard's LIMIT


def test_a_table_of_another_knowledge_base_is_refused(store: Store) -> None:
    with pytest.raises(UnsafeSQL, match="is not a table of this knowledge base"):
        store.check(f"SELECT token FROM {store.secrets}")
    with pytest.raises(UnsafeSQL, match="is not a table of this knowledge base"):
        store.check(f"SELECT id FROM {store.orders} UNION SELECT token FROM {store.secrets}")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {orders} SET amount = 0",
        "DELETE FROM {orders}",
        "INSERT INTO {orders} (id) VALUES (99)",
        "DROP TABLE {orders}",
        "CREATE TABLE {orders}_copy AS SELECT * FROM {orders}",
    ],
)
def test_the_database_refuses_a_write_that_slipped_past_the_guard(store: Store, statement: str) -> None:
    """run_guarded on its own, with SQL the guard would never pass: the database says no."""
    with pytest.raises(QueryFailed, match=r"read-only|readonly"):
        run_guarded(store.engine, statement.format(orders=store.orders), timeout_s=5, max_rows=10)
    assert store.count_orders() == 4


def test_a_data_modifying_cte_is_refused_by_postgresql_itself(store: Store) -> None:
    if store.dialect != "postgres":
        pytest.skip("SQLite has no data-modifying CTEs")
    sql = f"WITH gone AS (DELETE FROM {store.orders} RETURNING id) SELECT count(*) FROM gone"
    with pytest.raises(QueryFailed, match="read-only"):
        run_guarded(store.engine, sql, timeout_s=5, max_rows=10)
    assert store.count_orders() == 4


def test_the_connection_is_writable_again_after_a_guarded_query(store: Store) -> None:
    """The read-only switch must not leak into the pool and break the next ingest."""
    with pytest.raises(QueryFailed):
        run_guarded(store.engine, f"DELETE FROM {store.orders}", timeout_s=5, max_rows=10)
    run_guarded(store.engine, store.check(f"SELECT id FROM {store.orders}"), timeout_s=5, max_rows=10)
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {store.orders} WHERE id = 4"))
    assert store.count_orders() == 3


def slow_query(store: Store) -> str:
    """Minutes of work at least, written as the guard accepts it."""
    if store.dialect == "sqlite":
        return store.check(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000000) "
            "SELECT count(*) FROM c"
        )
    n = store.numbers
    return store.check(f"SELECT count(*) FROM {n} AS a, {n} AS b, {n} AS c, {n} AS d")  # 300⁴ rows


def test_a_slow_query_is_cancelled_by_the_timeout(store: Store) -> None:
    sql = slow_query(store)
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        run_guarded(store.engine, sql, timeout_s=TIMEOUT_S, max_rows=10)
    assert time.monotonic() - started < CANCELLED_WITHIN_S
    # the pooled connection carries no expired deadline into the app's next query (~100k steps)
    with store.engine.connect() as conn:
        pairs = f"SELECT count(*) FROM {store.numbers} AS a, {store.numbers} AS b"
        assert conn.execute(sa.text(pairs)).scalar_one() == 90_000


#: The corpus's deadline, and how long past it a cancelled attack may take to come back: the
#: cancellation itself, on a loaded two-core machine (measured: ~0.05 s past on both backends).
CORPUS_TIMEOUT_S = 1.0
CORPUS_BOUND_S = CORPUS_TIMEOUT_S + 4.0
_BACKEND = {"postgres": "postgresql", "sqlite": "sqlite"}


@pytest.mark.parametrize(
    ("store", "attack"),
    [(_BACKEND[a.dialect], a) for a in ATTACKS if a.stopped_by in ("timeout", "limit")],
    ids=lambda value: attack_id(value) if isinstance(value, Attack) else None,
    indirect=["store"],
)
def test_attacks_past_the_guard_are_stopped_within_a_bound(store: Store, attack: Attack) -> None:
    """The corpus's queries the guard passes (an unbounded recursion, a join of billions of rows, a
    string that doubles each step) end with a clear error soon after the deadline, and the store
    still answers."""
    sql = store.check(attack.sql.format(orders=store.orders, numbers=store.numbers, secrets=store.secrets))
    started = time.monotonic()
    with pytest.raises(QueryFailed) as info:
        run_guarded(store.engine, sql, timeout_s=CORPUS_TIMEOUT_S, max_rows=10)
    elapsed = time.monotonic() - started
    if attack.stopped_by == "timeout":
        assert isinstance(info.value, QueryTimeout)
        assert str(info.value) == "the query ran past its time limit and was cancelled"
        assert elapsed >= CORPUS_TIMEOUT_S * 0.9
    else:
        assert str(info.value) == "string or blob too big"
    assert elapsed < CORPUS_BOUND_S, f"{attack.name} ran {elapsed:.1f} s"
    assert store.count_orders() == 4


def test_a_string_literal_cannot_turn_into_sql_on_a_non_standard_server(postgres_url: str) -> None:
    """With `standard_conforming_strings` off, PostgreSQL reads `'x\\'` as a string that goes on
    past its second quote: what the guard read as two string literals would run as a UNION
    over another KB's table. run_guarded pins the setting for its transaction, so the server
    reads the query as the guard did."""
    url = create_database(postgres_url, "sql_exec_scs")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            orders_table = write_table(conn, "sales", "orders", orders())
            secrets_table = write_table(conn, "other", "secrets", secrets())
            conn.execute(
                sa.text(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET standard_conforming_strings = off')
            )
        engine.dispose()  # new sessions take the database's setting
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW standard_conforming_strings")).scalar_one() == "off"
        attack = f"SELECT 'x\\' AS a, ' UNION SELECT token FROM {secrets_table} --' AS b FROM {orders_table}"
        sql = check_sql(attack, "postgres", {orders_table})
        columns, rows = run_guarded(engine, sql, timeout_s=5, max_rows=10)
        assert columns == ["a", "b"]
        assert all("s3cr3t" not in str(row) for row in rows)
        assert rows[0] == ("x\\", f" UNION SELECT token FROM {secrets_table} --")
    finally:
        engine.dispose()
        drop_database(postgres_url, url)


def test_postgresql_outside_a_transaction_runs_nothing(postgres_database: str) -> None:
    """An AUTOCOMMIT engine would ignore SET TRANSACTION READ ONLY with a mere warning."""
    engine = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    try:
        with pytest.raises(QueryFailed, match="no read-only transaction"):
            run_guarded(engine, "CREATE TABLE never_made (x int)", timeout_s=5, max_rows=1)
        assert not sa.inspect(engine).has_table("never_made")
    finally:
        engine.dispose()


def test_a_database_error_is_a_one_line_reason(store: Store) -> None:
    sql = store.check(f"SELECT no_such_column FROM {store.orders}")
    with pytest.raises(QueryFailed) as info:
        run_guarded(store.engine, sql, timeout_s=5, max_rows=10)
    assert not isinstance(info.value, QueryTimeout)
    assert "no_such_column" in str(info.value)
    assert "\n" not in str(info.value)


def test_rows_as_markdown_is_a_small_safe_table() -> None:
    table = rows_as_markdown(
        ["region", "total", "note"],
        [
            ("华东", 0.1 + 0.2, None),
            ("north | west", Decimal("7.00"), "line one\nline two"),
            ("x", 1, "y" * 100),
        ],
        max_cell_chars=20,
    )
    assert table.splitlines() == [
        "| region | total | note |",
        "| --- | --- | --- |",
        "| 华东 | 0.3 |  |",
        "| north \\| west | 7.00 | line one line two |",
        "| x | 1 | yyyyyyyyyyyyyyyyyyy… |",
    ]
    assert rows_as_markdown(["n"], []) == "| n |\n| --- |"
