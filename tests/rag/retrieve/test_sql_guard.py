"""The text-to-SQL guard on hand-written queries: what it refuses (and says why), what it lets
through, and the SQL it hands to the database.

Table names are those the catalogue gives: `kb_sales.orders` on PostgreSQL, where each KB
has a schema, and `kb_sales__orders` on SQLite, where the KB's tables share the main
database with the ledger (`documents`, `chunks`…), so the guard alone keeps queries off them.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from rag.retrieve.sql_guard import DEFAULT_MAX_ROWS, UnsafeSQL, check_sql
from tests.rag.retrieve.sql_attacks import ATTACKS, Attack, attack_id
from tests.rag.retrieve.sql_attacks import names as attack_names

pytestmark = pytest.mark.fast

PG_TABLES = {"kb_sales.orders", "kb_sales.regions", "kb_sales.销售"}
SQLITE_TABLES = {"kb_sales__orders", "kb_sales__regions"}


def check(dialect: str, sql: str, **kwargs: int) -> str:
    allowed = PG_TABLES if dialect == "postgres" else SQLITE_TABLES
    return check_sql(sql, dialect, allowed, **kwargs)


def refusal(dialect: str, sql: str) -> str:
    with pytest.raises(UnsafeSQL) as info:
        check(dialect, sql)
    reason = str(info.value)
    assert "\n" not in reason
    return reason


@pytest.mark.parametrize(
    ("dialect", "sql", "reason"),
    [
        ("postgres", "DROP TABLE kb_sales.orders", "only a SELECT query is allowed, not DROP"),
        ("sqlite", "DROP TABLE kb_sales__orders", "not DROP"),
        ("postgres", "UPDATE kb_sales.orders SET amount = 0", "not UPDATE"),
        ("sqlite", "UPDATE kb_sales__orders SET amount = 0", "not UPDATE"),
        ("postgres", "DELETE FROM kb_sales.orders", "not DELETE"),
        ("postgres", "INSERT INTO kb_sales.orders (id) VALUES (1)", "not INSERT"),
        ("sqlite", "REPLACE INTO kb_sales__orders VALUES (1)", "not REPLACE"),
        (
            "postgres",
            "MERGE INTO kb_sales.orders o USING kb_sales.regions r ON o.id = r.id WHEN MATCHED THEN DELETE",
            "not MERGE",
        ),
        ("postgres", "CREATE TABLE kb_sales.copy AS SELECT * FROM kb_sales.orders", "not CREATE"),
        ("postgres", "ALTER TABLE kb_sales.orders ADD COLUMN x INT", "not ALTER"),
        ("postgres", "TRUNCATE kb_sales.orders", "not TRUNCATE"),
        ("postgres", "GRANT ALL ON kb_sales.orders TO public", "not GRANT"),
        ("postgres", "COPY kb_sales.orders TO '/tmp/orders.csv'", "not COPY"),
        ("postgres", "COPY (SELECT 1) TO PROGRAM 'rm -rf /'", "not COPY"),
        ("postgres", "SET statement_timeout = 0", "not SET"),
        ("postgres", "CALL refresh()", "not CALL"),
        ("postgres", "EXPLAIN ANALYZE SELECT * FROM kb_sales.orders", "not EXPLAIN"),
        ("postgres", "DO $$ BEGIN DELETE FROM kb_sales.orders; END $$", "not DO"),
        ("postgres", "VALUES (1)", "not VALUES"),
        ("sqlite", "PRAGMA query_only = OFF", "not PRAGMA"),
        ("sqlite", "ATTACH DATABASE '/tmp/x.db' AS x", "not ATTACH"),
        ("sqlite", "DETACH x", "not DETACH"),
        ("sqlite", "VACUUM INTO '/tmp/copy.db'", "not VACUUM"),
    ],
)
def test_statements_other_than_select_are_refused(dialect: str, sql: str, reason: str) -> None:
    assert reason in refusal(dialect, sql)


@pytest.mark.parametrize(
    ("dialect", "sql", "count"),
    [
        ("postgres", "SELECT 1; DROP TABLE kb_sales.orders", 2),
        ("sqlite", "SELECT * FROM kb_sales__orders;DELETE FROM kb_sales__orders", 2),
        ("postgres", "SELECT 1 /*;*/; DELETE FROM kb_sales.orders", 2),
        ("postgres", "SELECT 1; SELECT 2; SELECT 3", 3),
        # PostgreSQL's standard strings end at the second quote: the backslash escapes nothing
        ("postgres", "SELECT 'a\\'; DROP TABLE kb_sales.orders; --'", 2),
        ("sqlite", "SELECT 'a\\'; DROP TABLE kb_sales__orders; --'", 2),
        ("postgres", "", 0),
        ("postgres", ";", 0),
        ("sqlite", "-- nothing but a comment", 0),
    ],
)
def test_anything_but_exactly_one_statement_is_refused(dialect: str, sql: str, count: int) -> None:
    assert refusal(dialect, sql) == f"expected exactly one SQL statement, got {count}"


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        (
            "WITH gone AS (DELETE FROM kb_sales.orders RETURNING *) SELECT * FROM gone",
            "DELETE is not allowed",
        ),
        ("WITH x AS (UPDATE kb_sales.orders SET amount = 0 RETURNING id) SELECT * FROM x", "UPDATE"),
        ("WITH x AS (INSERT INTO kb_sales.orders (id) VALUES (9) RETURNING id) SELECT * FROM x", "INSERT"),
        (
            "SELECT * FROM kb_sales.orders WHERE id IN "
            "(WITH z AS (DELETE FROM kb_sales.orders RETURNING id) SELECT id FROM z)",
            "DELETE",
        ),
    ],
)
def test_writes_hidden_in_a_cte_are_refused(sql: str, reason: str) -> None:
    assert reason in refusal("postgres", sql)


@pytest.mark.parametrize(
    ("dialect", "sql", "function"),
    [
        ("postgres", "SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("postgres", "SELECT PG_READ_FILE('/etc/passwd')", "pg_read_file"),
        ("postgres", "SELECT pg_ls_dir('.')", "pg_ls_dir"),
        ("postgres", "SELECT lo_import('/etc/passwd')", "lo_import"),
        ("postgres", "SELECT lo_export(1, '/tmp/x')", "lo_export"),
        ("postgres", "SELECT dblink('host=evil', 'SELECT 1')", "dblink"),
        ("postgres", "SELECT pg_sleep(60)", "pg_sleep"),
        ("postgres", "SELECT set_config('statement_timeout', '0', false)", "set_config"),
        ("postgres", "SELECT current_setting('data_directory')", "current_setting"),
        ("postgres", "SELECT query_to_xml('SELECT * FROM documents', true, true, '')", "query_to_xml"),
        ("postgres", "SELECT nextval('some_sequence')", "nextval"),
        ("postgres", "SELECT current_user", "current_user"),
        ("postgres", "SELECT my_udf(amount) FROM kb_sales.orders", "my_udf"),
        ("postgres", "SELECT id FROM kb_sales.orders WHERE pg_sleep(1) IS NULL", "pg_sleep"),
        (
            "postgres",
            "SELECT sum(amount) FROM kb_sales.orders HAVING max(pg_read_file('x')) > ''",
            "pg_read_file",
        ),
        ("postgres", "SELECT repeat('x', 1000000000)", "repeat"),
        ("sqlite", "SELECT load_extension('/tmp/evil.so')", "load_extension"),
        ("sqlite", "SELECT readfile('/etc/passwd')", "readfile"),
        ("sqlite", "SELECT writefile('/tmp/x', 'y')", "writefile"),
        ("sqlite", "SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
        ("sqlite", "SELECT zeroblob(1000000000)", "zeroblob"),
        ("sqlite", "SELECT printf('%.*c', 1000000000, 'x')", "printf"),
        ("sqlite", "SELECT region FROM kb_sales__orders WHERE mystery(region)", "mystery"),
    ],
)
def test_functions_outside_the_allow_list_are_refused(dialect: str, sql: str, function: str) -> None:
    assert refusal(dialect, sql) == f"function {function} is not allowed"


@pytest.mark.parametrize(
    ("dialect", "sql", "reason"),
    [
        ("postgres", "SELECT pg_catalog.pg_read_file('/etc/passwd')", "qualified function names"),
        ("postgres", "SELECT * FROM pg_ls_dir('.')", "table functions are not allowed"),
        ("postgres", "SELECT * FROM generate_series(1, 10)", "table functions are not allowed"),
        ("sqlite", "SELECT * FROM pragma_table_info('documents')", "table functions are not allowed"),
        ("sqlite", "SELECT * FROM json_each('[1]')", "table functions are not allowed"),
        ("postgres", "SELECT * INTO kb_sales.copy FROM kb_sales.orders", "SELECT … INTO is not allowed"),
        ("postgres", "SELECT * FROM kb_sales.orders FOR UPDATE", "locking clauses"),
        ("postgres", "SELECT * FROM kb_sales.orders FOR SHARE", "locking clauses"),
        ("postgres", "SELECT * FROM kb_sales.orders FETCH FIRST 3 ROWS ONLY", "use LIMIT"),
        ("postgres", "SELECT * FROM kb_sales.orders WHERE id = $1", "query parameters"),
        ("sqlite", "SELECT * FROM kb_sales__orders WHERE id = ?", "query parameters"),
        ("sqlite", "SELECT * FROM kb_sales__orders WHERE id = :id", "query parameters"),
        ("postgres", "SELECT 'documents'::regclass", "object identifier types"),
        ("postgres", "SELECT id::oid FROM kb_sales.orders", "object identifier types"),
        ("postgres", "SELECT region::json FROM kb_sales.orders", "type JSON is not allowed"),
        ("postgres", "SELECT * FROM kb_sales.orders TABLESAMPLE SYSTEM (10)", "TABLESAMPLE is not supported"),
        ("postgres", "SELECT $$dollar quoted$$", "RAWSTRING is not supported"),
        ("postgres", "SELECT region FROM kb_sales.orders WHERE", "could not parse the SQL"),
    ],
)
def test_other_constructs_are_refused(dialect: str, sql: str, reason: str) -> None:
    assert reason in refusal(dialect, sql)


@pytest.mark.parametrize(
    ("dialect", "sql", "table"),
    [
        # another knowledge base, however it is spelt
        ("postgres", "SELECT * FROM kb_other.sales", "kb_other.sales"),
        ("postgres", 'SELECT * FROM "KB_Other"."Sales"', "KB_Other.Sales"),
        ("postgres", "SELECT * FROM KB_OTHER.SALES", "kb_other.sales"),
        ("postgres", 'SELECT * FROM "kb_other".sales', "kb_other.sales"),
        (
            "postgres",
            "SELECT o.* FROM kb_sales.orders o JOIN kb_other.sales s ON s.id = o.id",
            "kb_other.sales",
        ),
        (
            "postgres",
            "SELECT * FROM kb_sales.orders WHERE id IN (SELECT id FROM kb_other.sales)",
            "kb_other.sales",
        ),
        ("postgres", "SELECT id FROM kb_sales.orders UNION SELECT id FROM kb_other.sales", "kb_other.sales"),
        ("postgres", "WITH s AS (SELECT * FROM kb_other.sales) SELECT * FROM s", "kb_other.sales"),
        ("postgres", "SELECT (SELECT count(*) FROM kb_other.sales) AS n", "kb_other.sales"),
        ("sqlite", "SELECT * FROM kb_other__sales", "kb_other__sales"),
        ("sqlite", 'SELECT * FROM "KB_Other__Sales"', "kb_other__sales"),
        ("sqlite", "SELECT * FROM [KB_OTHER__SALES]", "kb_other__sales"),
        # the ledger and the engines' own catalogues
        ("sqlite", "SELECT * FROM documents", "documents"),
        ("sqlite", "SELECT * FROM `chunks`", "chunks"),
        ("sqlite", "SELECT * FROM kb_tables", "kb_tables"),
        ("sqlite", "SELECT name FROM knowledge_bases", "knowledge_bases"),
        ("sqlite", "SELECT * FROM alembic_version", "alembic_version"),
        ("sqlite", "SELECT sql FROM sqlite_master", "sqlite_master"),
        ("sqlite", "SELECT sql FROM SQLITE_SCHEMA", "sqlite_schema"),
        ("sqlite", "SELECT * FROM main.kb_sales__orders", "main.kb_sales__orders"),
        ("sqlite", "SELECT * FROM temp.kb_sales__orders", "temp.kb_sales__orders"),
        ("postgres", "SELECT * FROM documents", "documents"),
        ("postgres", "SELECT * FROM public.chunks", "public.chunks"),
        ("postgres", "SELECT * FROM pg_catalog.pg_authid", "pg_catalog.pg_authid"),
        ("postgres", "SELECT * FROM pg_shadow", "pg_shadow"),
        ("postgres", "SELECT * FROM information_schema.tables", "information_schema.tables"),
        ("postgres", "TABLE documents", "documents"),
        # the KB's own table, but not as the catalogue names it
        ("postgres", "SELECT * FROM orders", "orders"),
        ("postgres", "SELECT * FROM rag.kb_sales.orders", "rag.kb_sales.orders"),
        ("postgres", 'SELECT * FROM "KB_SALES"."ORDERS"', "KB_SALES.ORDERS"),
        # one quoted identifier that contains a dot: a table of that name in the search path
        ("postgres", 'SELECT * FROM "kb_sales.orders"', "kb_sales.orders"),
    ],
)
def test_tables_outside_the_knowledge_base_are_refused(dialect: str, sql: str, table: str) -> None:
    assert refusal(dialect, sql) == f"table {table} is not a table of this knowledge base"


@pytest.mark.parametrize(
    "name",
    [
        "kb_ѕales.orders",  # Cyrillic ѕ
        "kb_sales.or\u200bders",  # zero-width space
        "ｋｂ_sales.orders",  # fullwidth letters: NFKC would make them ASCII, the databases do not
        "\u212ab_sales.orders",  # Kelvin sign: Python's lower() makes it "k", the databases do not
    ],
)
def test_look_alike_unicode_names_are_refused(name: str) -> None:
    assert "is not a table of this knowledge base" in refusal("postgres", f"SELECT * FROM {name}")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        # a CTE may shadow a table name; it is the CTE that is read
        ("WITH documents AS (SELECT 1 AS x) SELECT * FROM documents", None),
        # but a non-recursive CTE's body reads the real table of that name
        ("WITH documents AS (SELECT * FROM documents) SELECT * FROM documents", "documents"),
        # and a CTE is not visible outside the query that defines it
        (
            "SELECT * FROM documents UNION ALL "
            "SELECT * FROM (WITH documents AS (SELECT 1) SELECT * FROM documents) AS q",
            "documents",
        ),
        # nor to the CTEs before it (a forward reference reads a real table)
        ("WITH a AS (SELECT * FROM chunks), chunks AS (SELECT 1) SELECT * FROM a", "chunks"),
        ("WITH a AS (SELECT 1 AS x), b AS (SELECT * FROM a) SELECT * FROM b", None),
        ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) SELECT x FROM n", None),
        ("WITH t AS (SELECT 1 AS x) SELECT * FROM t UNION SELECT * FROM t", None),
        # a nested WITH sees the outer CTEs defined before its own
        (
            "WITH a AS (SELECT 1 AS x), b AS (WITH c AS (SELECT * FROM a) SELECT * FROM c) SELECT * FROM b",
            None,
        ),
        (
            "WITH b AS (WITH c AS (SELECT * FROM a) SELECT * FROM c), a AS (SELECT 1 AS x) SELECT * FROM b",
            "a",
        ),
        ('WITH "Docs" AS (SELECT 1 AS x) SELECT * FROM docs', "docs"),
        # a CTE name never makes a qualified name allowed
        ("WITH chunks AS (SELECT 1 AS x) SELECT * FROM public.chunks", "public.chunks"),
    ],
)
def test_cte_names_resolve_by_scope(sql: str, reason: str | None) -> None:
    if reason is None:
        check("postgres", sql)
    else:
        assert refusal("postgres", sql) == f"table {reason} is not a table of this knowledge base"


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        (
            "postgres",
            "SELECT region, sum(amount) AS total FROM kb_sales.orders GROUP BY region ORDER BY total DESC",
        ),
        (
            "postgres",
            "SELECT o.id, r.name FROM kb_sales.orders AS o JOIN kb_sales.regions AS r ON r.name = o.region "
            "LEFT JOIN kb_sales.regions AS r2 USING (name) WHERE o.amount > 10",
        ),
        (
            "postgres",
            "WITH big AS (SELECT * FROM kb_sales.orders WHERE amount > 100) "
            "SELECT region, count(*) FROM big GROUP BY region HAVING count(*) > 1",
        ),
        (
            "postgres",
            "SELECT date_trunc('month', day) AS m, count(*) FILTER (WHERE paid), avg(amount)::numeric(10,2), "
            "string_agg(region, ', ') FROM kb_sales.orders GROUP BY 1 ORDER BY m",
        ),
        (
            "postgres",
            "SELECT extract(year FROM day), to_char(day, 'YYYY-MM'), coalesce(region, '?'), "
            "CASE WHEN amount > 1 THEN 'big' ELSE 'small' END, nullif(amount, 0), round(amount, 1), "
            "upper(region), length(region), abs(amount), greatest(amount, 0) FROM kb_sales.orders",
        ),
        (
            "postgres",
            "SELECT region, amount, rank() OVER (PARTITION BY region ORDER BY amount DESC) "
            "FROM kb_sales.orders AS o WHERE EXISTS (SELECT 1 FROM kb_sales.regions AS r "
            "WHERE r.name = o.region) AND day >= DATE '2024-01-01' "
            "AND day < CURRENT_DATE - INTERVAL '1 day'",
        ),
        (
            "postgres",
            "SELECT id FROM kb_sales.orders WHERE region IN ('华东', '华南') AND region LIKE '%东' "
            "AND amount BETWEEN 1 AND 5 AND paid IS NOT NULL",
        ),
        ("postgres", "SELECT id FROM kb_sales.orders UNION SELECT id FROM kb_sales.regions ORDER BY 1"),
        ("postgres", "SELECT * FROM kb_sales.销售"),
        ("postgres", 'SELECT * FROM "kb_sales"."销售"'),
        ("postgres", 'SELECT * FROM "kb_sales"."orders"'),
        ("postgres", "SELECT * FROM KB_SALES.ORDERS"),  # unquoted names fold to lower case
        ("postgres", "SELECT count(*) FROM kb_sales.orders AS a CROSS JOIN kb_sales.orders AS b"),
        (
            "sqlite",
            "SELECT strftime('%Y-%m', day) AS month, total(amount), group_concat(region), "
            "ifnull(region, '?'), iif(paid, 'y', 'n'), substr(region, 1, 2), julianday(day), "
            "date(day, 'start of month') FROM kb_sales__orders GROUP BY month",
        ),
        ("sqlite", "SELECT * FROM KB_SALES__ORDERS"),
        ("sqlite", 'SELECT * FROM "Kb_Sales__Orders"'),  # SQLite ignores case, quoted or not
        (
            "sqlite",
            "SELECT o.region, max(o.amount) FROM kb_sales__orders o, kb_sales__regions r "
            "WHERE o.region = r.name GROUP BY o.region ORDER BY 2 DESC",
        ),
    ],
)
def test_ordinary_analytical_queries_pass(dialect: str, sql: str) -> None:
    safe = check(dialect, sql)
    assert safe.endswith(f"LIMIT {DEFAULT_MAX_ROWS}")
    assert check(dialect, safe) == safe  # checking is idempotent


@pytest.mark.parametrize(
    ("sql", "limit"),
    [
        ("SELECT id FROM kb_sales.orders", DEFAULT_MAX_ROWS),
        ("SELECT id FROM kb_sales.orders LIMIT 5", 5),
        ("SELECT id FROM kb_sales.orders LIMIT 0", 0),
        ("SELECT id FROM kb_sales.orders LIMIT 100000", DEFAULT_MAX_ROWS),
        ("SELECT id FROM kb_sales.orders LIMIT ALL", DEFAULT_MAX_ROWS),
        ("SELECT id FROM kb_sales.orders LIMIT NULL", DEFAULT_MAX_ROWS),
        ("SELECT id FROM kb_sales.orders LIMIT -1", DEFAULT_MAX_ROWS),
        ("SELECT id FROM kb_sales.orders LIMIT '5'", DEFAULT_MAX_ROWS),
        ("SELECT id FROM kb_sales.orders LIMIT (SELECT 100000)", DEFAULT_MAX_ROWS),
        ("SELECT id FROM kb_sales.orders LIMIT 10 OFFSET 20", 10),
        ("SELECT id FROM kb_sales.orders UNION ALL SELECT id FROM kb_sales.regions", DEFAULT_MAX_ROWS),
        ("SELECT * FROM (SELECT id FROM kb_sales.orders LIMIT 100000) AS q", DEFAULT_MAX_ROWS),
    ],
)
def test_the_row_limit_is_added_or_clamped(sql: str, limit: int) -> None:
    tree = sqlglot.parse_one(check("postgres", sql), read="postgres")
    assert tree.args["limit"].expression == exp.Literal.number(limit)


def test_the_row_limit_follows_max_rows() -> None:
    assert check("sqlite", "SELECT id FROM kb_sales__orders LIMIT 50", max_rows=10).endswith("LIMIT 10")
    assert check("sqlite", "SELECT id FROM kb_sales__orders LIMIT 3, 500", max_rows=10) == (
        "SELECT id FROM kb_sales__orders LIMIT 10 OFFSET 3"
    )


def test_comments_do_not_reach_the_database() -> None:
    safe = check(
        "postgres",
        "SELECT region /* ; DROP TABLE kb_sales.orders */ FROM kb_sales.orders -- */ DELETE FROM x\n",
    )
    assert safe == "SELECT region FROM kb_sales.orders LIMIT 100"
    assert check("postgres", "SELECT '/*;*/' AS s FROM kb_sales.orders /*;*/") == (
        "SELECT '/*;*/' AS s FROM kb_sales.orders LIMIT 100"
    )


def test_strings_and_unicode_survive_normalisation() -> None:
    assert check("postgres", "SELECT 'it''s; \\ 华东' AS s FROM kb_sales.销售 WHERE region = '华东'") == (
        "SELECT 'it''s; \\ 华东' AS s FROM kb_sales.销售 WHERE region = '华东' LIMIT 100"
    )


def test_catalogue_names_are_the_allow_list() -> None:
    """Whatever the catalogue lists is allowed as written, and nothing else is."""
    assert check_sql("SELECT * FROM kb_x.t", "postgresql", {"kb_x.t"}) == "SELECT * FROM kb_x.t LIMIT 100"
    with pytest.raises(UnsafeSQL):
        check_sql("SELECT * FROM kb_x.t", "postgres", set())
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        check_sql("SELECT 1", "mysql", set())


GUARDED = [attack for attack in ATTACKS if attack.stopped_by == "guard"]
REWRITTEN = [attack for attack in ATTACKS if attack.stopped_by == "rewrite"]
PASSED_ON = [attack for attack in ATTACKS if attack.stopped_by in ("timeout", "limit")]


def corpus_check(attack: Attack) -> str:
    """`check_sql` on the attack with its dialect's names; only the `sales` KB's tables allowed."""
    names = attack_names(attack.dialect)
    return check_sql(attack.sql.format(**names), attack.dialect, {names["orders"], names["numbers"]})


def test_the_attack_corpus_is_broad() -> None:
    """At least 50 statements, over every kind of attack the guard answers for, on both dialects."""
    assert len(ATTACKS) >= 50
    assert len({attack.category for attack in ATTACKS}) >= 20
    assert {attack.dialect for attack in GUARDED} == {"postgres", "sqlite"}
    assert len({(attack.dialect, attack.name) for attack in ATTACKS}) == len(ATTACKS)  # ids are unique


@pytest.mark.parametrize("attack", GUARDED, ids=attack_id)
def test_the_guard_refuses_every_attack_of_the_corpus(attack: Attack) -> None:
    with pytest.raises(UnsafeSQL) as info:
        corpus_check(attack)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("attack", REWRITTEN, ids=attack_id)
def test_what_runs_of_a_comment_trick_is_the_checked_statement_alone(attack: Attack) -> None:
    assert corpus_check(attack) == attack.runs.format(**attack_names(attack.dialect))


@pytest.mark.parametrize("attack", PASSED_ON, ids=attack_id)
def test_attacks_only_the_database_can_stop_pass_the_guard(attack: Attack) -> None:
    """Honest about the guard's limit: these are plain SELECTs over allowed tables; what stops
    them is `run_guarded` (tests/rag/retrieve/test_sql_exec.py runs each against its backend)."""
    assert corpus_check(attack).endswith(f"LIMIT {DEFAULT_MAX_ROWS}")


@pytest.mark.parametrize(
    ("dialect", "sql", "reason"),
    [
        ("postgres", "CHECKPOINT", "only a SELECT query is allowed, not CHECKPOINT"),
        ("postgres", "LISTEN channel", "only a SELECT query is allowed, not LISTEN"),
        ("postgres", "WITH x AS (SELECT 1) DELETE FROM kb_sales.orders", "not DELETE"),
        ("postgres", "SELECT version()", "function version is not allowed"),
        ("postgres", "SELECT lpad('', 1000000000, 'x')", "function lpad is not allowed"),
        ("postgres", "SELECT generate_series(1, 10)", "function generate_series is not allowed"),
        ("sqlite", "SELECT sqlite_version()", "function sqlite_version is not allowed"),
    ],
)
def test_a_refusal_names_what_was_written(dialect: str, sql: str, reason: str) -> None:
    """Not sqlglot's name for it (`COLUMN`, `ALIAS`, `pad`, `current_version`): the reason goes
    back to the model in the repair prompt, which must recognise its own query in it."""
    assert reason in refusal(dialect, sql)
