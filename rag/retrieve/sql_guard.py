"""The gate between SQL written by a model and the database: one read-only SELECT, or a refusal.

The SQL comes from an LLM that has read retrieved documents, so it is untrusted input. It is
parsed with sqlglot and every node of the tree must be on an allow-list: clauses of a plain
SELECT, operators, harmless functions (aggregates, math, strings, dates, casts to plain
types), and tables of the question's knowledge base. Everything else, known or not, is
refused, so a construct sqlglot learns tomorrow is refused until someone allows it.

The database receives the SQL regenerated from the checked tree (comments dropped), never
the input text: what runs is what was checked, whatever the input hid in comments, quoting or
string escapes. The regenerated text is parsed and checked once more, so a quirk of sqlglot's
generator cannot turn a checked tree into different SQL. The read-only transaction and
statement timeout of `sql_exec` stay the second line of defence, not the first.
"""

from __future__ import annotations

import string

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from rag.common.reasons import one_line

#: Rows a query may return when the caller names no limit: enough for a prompt's table.
DEFAULT_MAX_ROWS = 100

_DIALECTS = {"postgres": "postgres", "postgresql": "postgres", "sqlite": "sqlite"}

#: Clauses and operators of a plain SELECT (exact types: a subclass is not allowed with its base).
_CLAUSES: frozenset[type[exp.Expression]] = frozenset(
    {
        exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.With, exp.CTE,
        exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered,
        exp.Limit, exp.Offset, exp.Distinct, exp.Rollup, exp.Cube, exp.GroupingSets,
        exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup,
        exp.Table, exp.TableAlias, exp.Alias, exp.Column, exp.Identifier, exp.Star,
        exp.Literal, exp.Boolean, exp.Null, exp.Var, exp.Interval, exp.DataType,
        exp.DataTypeParam, exp.Paren, exp.Tuple, exp.Values,
        exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.DPipe,
        exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
        exp.Not, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Glob, exp.SimilarTo,
        exp.Escape, exp.Any, exp.All,
    }
)  # fmt: skip

#: Functions that read only their arguments: no files, no server state, no side effects.
#: Functions that build huge values from small arguments (repeat, lpad, zeroblob, printf
#: widths) are left out: one call can allocate a gigabyte before any timeout fires.
_FUNCTIONS: frozenset[type[exp.Expression]] = frozenset(
    {
        exp.And, exp.Or, exp.Exists, exp.Case, exp.If, exp.Cast, exp.TryCast, exp.Coalesce,
        exp.Nullif, exp.Greatest, exp.Least,
        exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Stddev, exp.StddevPop,
        exp.StddevSamp, exp.Variance, exp.VariancePop, exp.Median, exp.PercentileCont,
        exp.PercentileDisc, exp.Mode, exp.GroupConcat, exp.ArrayAgg, exp.LogicalAnd,
        exp.LogicalOr, exp.Corr, exp.CountIf,
        exp.RowNumber, exp.Rank, exp.DenseRank, exp.Ntile, exp.Lag, exp.Lead, exp.FirstValue,
        exp.LastValue, exp.NthValue, exp.PercentRank, exp.CumeDist,
        exp.Abs, exp.Round, exp.Ceil, exp.Floor, exp.Trunc, exp.Sqrt, exp.Pow, exp.Ln, exp.Log,
        exp.Exp, exp.Sign,
        exp.Lower, exp.Upper, exp.Length, exp.Substring, exp.Trim, exp.Replace, exp.Concat,
        exp.ConcatWs, exp.StrPosition, exp.Left, exp.Right, exp.Reverse, exp.Initcap,
        exp.SplitPart, exp.Translate, exp.StartsWith, exp.RegexpLike, exp.RegexpILike,
        exp.RegexpReplace, exp.Chr, exp.Unicode, exp.Typeof,
        exp.Extract, exp.TimestampTrunc, exp.DateTrunc, exp.TimeToStr, exp.StrToTime,
        exp.StrToDate, exp.ToNumber, exp.Date, exp.TsOrDsToTimestamp, exp.TsOrDsToDate,
        exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime, exp.DateAdd, exp.DateSub,
        exp.DateDiff,
    }
)  # fmt: skip

#: Harmless functions sqlglot keeps as `Anonymous` (it has no class for them), by lower-case name.
_ANONYMOUS_FUNCTIONS = frozenset(
    {
        "age", "make_date", "make_timestamp", "date_part", "to_char", "to_date", "to_timestamp",
        "to_number", "date", "time", "datetime", "julianday", "unixepoch", "strftime", "ifnull",
        "iif", "instr", "substr", "total", "every", "btrim", "ltrim", "rtrim", "char_length",
        "character_length", "octet_length",
    }
)  # fmt: skip

#: Types a CAST may name: the plain scalars of ingested tables (no regclass, oid, json, xml…).
_CAST_TYPES = frozenset(
    {
        exp.DataType.Type.BOOLEAN, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT,
        exp.DataType.Type.BIGINT, exp.DataType.Type.DECIMAL, exp.DataType.Type.FLOAT,
        exp.DataType.Type.DOUBLE, exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR,
        exp.DataType.Type.CHAR, exp.DataType.Type.DATE, exp.DataType.Type.TIME,
        exp.DataType.Type.DATETIME, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ,
        exp.DataType.Type.INTERVAL,
    }
)  # fmt: skip

#: Refusals that deserve a better reason than "unsupported construct".
_REASONS: dict[type[exp.Expression], str] = {
    exp.Into: "SELECT … INTO is not allowed: it creates a table",
    exp.Lock: "locking clauses (FOR UPDATE / FOR SHARE) are not allowed",
    exp.Fetch: "FETCH FIRST is not supported: use LIMIT",
    exp.Placeholder: "query parameters are not allowed: write the values into the query",
    exp.Parameter: "query parameters are not allowed: write the values into the query",
    exp.Dot: "qualified function names and field access are not allowed",
    exp.ObjectIdentifier: "object identifier types (regclass, oid…) are not allowed",
}

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class UnsafeSQL(ValueError):
    """The SQL is not one read-only SELECT over the allowed tables; the message says why."""


def check_sql(sql: str, dialect: str, allowed_tables: set[str], *, max_rows: int = DEFAULT_MAX_ROWS) -> str:
    """The query as safe SQL to run, with a `LIMIT` of at most `max_rows`; else `UnsafeSQL`.

    `dialect` is "postgres" (or "postgresql") or "sqlite". `allowed_tables` holds qualified
    names as the catalogue gives them (`kb_sales.orders` on PostgreSQL, `kb_sales__orders`
    on SQLite); names of the query's own CTEs are fine too.
    """
    if dialect not in _DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}: expected postgres or sqlite")
    read = _DIALECTS[dialect]
    allowed = {tuple(name.split(".")) for name in allowed_tables}
    statement = _parse_one(sql, read)
    _check_tree(statement, read, allowed)
    _enforce_limit(statement, max_rows)
    safe = statement.sql(dialect=read, comments=False)
    _check_tree(_parse_one(safe, read), read, allowed)
    return safe


def _parse_one(sql: str, dialect: str) -> exp.Expression:
    try:
        parsed = sqlglot.parse(sql, read=dialect)
    except SqlglotError as exc:
        raise UnsafeSQL(f"could not parse the SQL: {one_line(exc)}") from None
    # A comment after the last `;` comes back as a `Semicolon` statement: nothing to run.
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if len(statements) != 1:
        raise UnsafeSQL(f"expected exactly one SQL statement, got {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, exp.Select | exp.SetOperation):
        raise UnsafeSQL(f"only a SELECT query is allowed, not {_statement_kind(statement, sql, dialect)}")
    return statement


def _statement_kind(statement: exp.Expression, sql: str, dialect: str) -> str:
    """The statement's first keyword, as the user wrote it: sqlglot reads a bare `CHECKPOINT` as
    a column and `LISTEN x` as an alias, whose node names would make a puzzling reason. After a
    leading WITH, the statement's own kind (`WITH … DELETE` is a DELETE)."""
    first = sqlglot.tokenize(sql, read=dialect)[0].text.upper()
    if first != "WITH":
        return first
    return {"truncatetable": "TRUNCATE"}.get(statement.key, statement.key.upper())


def _check_tree(statement: exp.Expression, dialect: str, allowed: set[tuple[str, ...]]) -> None:
    for node in statement.walk():
        kind = type(node)
        if kind is exp.Table:
            _check_table(node, dialect, allowed)
        elif kind is exp.DataType:
            if node.this not in _CAST_TYPES:
                raise UnsafeSQL(f"type {node.sql(dialect)} is not allowed")
        elif kind is exp.Anonymous:
            if node.name.lower() not in _ANONYMOUS_FUNCTIONS:
                raise UnsafeSQL(f"function {node.name.lower()} is not allowed")
        elif kind not in _CLAUSES and kind not in _FUNCTIONS:
            raise UnsafeSQL(_refusal(node, dialect))


def _function_name(node: exp.Func, dialect: str) -> str:
    """The function's name as the dialect spells it (`lpad`, `version`), not sqlglot's class
    name for it (`pad`, `current_version`)."""
    return node.sql(dialect).split("(", 1)[0].strip().lower()


def _refusal(node: exp.Expression, dialect: str) -> str:
    if type(node) in _REASONS:
        return _REASONS[type(node)]
    if isinstance(node, exp.DML | exp.DDL):
        return f"{node.key.upper()} is not allowed inside a query"
    if isinstance(node, exp.Func):
        return f"function {_function_name(node, dialect)} is not allowed"
    return f"SQL construct {node.key.upper()} is not supported"


def _check_table(table: exp.Table, dialect: str, allowed: set[tuple[str, ...]]) -> None:
    if not isinstance(table.this, exp.Identifier):
        raise UnsafeSQL(f"table functions are not allowed: {table.this.sql(dialect)}")
    parts = tuple(fold(part, dialect) for part in table.parts)
    if parts in allowed or (len(parts) == 1 and is_cte_reference(table, parts[0], dialect)):
        return
    raise UnsafeSQL(f"table {'.'.join(parts)} is not a table of this knowledge base")


def fold(identifier: exp.Identifier, dialect: str) -> str:
    """The name the database resolves: PostgreSQL folds unquoted names, SQLite every name, and
    both fold ASCII letters only (Python's `lower()` folds more, which would let a name pass
    here that the database reads differently)."""
    if identifier.quoted and dialect == "postgres":
        return identifier.name
    return identifier.name.translate(_ASCII_LOWER)


def is_cte_reference(table: exp.Table, name: str, dialect: str) -> bool:
    """Whether `name` resolves to a CTE in scope rather than to a real table.

    Conservative on purpose: a CTE's body sees only the CTEs before it (and itself under
    `WITH RECURSIVE`), so `WITH documents AS (SELECT * FROM documents)` reads the real table
    and is refused; forward references, which PostgreSQL allows under RECURSIVE, are
    refused too rather than risk a name that the database resolves to a real table.
    """
    node: exp.Expression = table
    cte: exp.CTE | None = None
    while node.parent is not None:
        parent = node.parent
        if isinstance(node, exp.CTE):
            cte = node
        if isinstance(node, exp.With):  # we came up through one of its CTEs
            ctes = list(node.expressions)
            index = next((i for i, c in enumerate(ctes) if c is cte), 0)
            visible = ctes[: index + 1] if node.args.get("recursive") else ctes[:index]
        else:
            with_ = parent.args.get("with_")
            visible = list(with_.expressions) if with_ is not None and node is not with_ else []
        if any(fold(c.args["alias"].this, dialect) == name for c in visible):
            return True
        node = parent
    return False


def _enforce_limit(statement: exp.Expression, max_rows: int) -> None:
    """Keep a literal `LIMIT n` with n ≤ max_rows; put `LIMIT max_rows` in place of anything
    else (none, larger, `ALL`, `NULL`, `-1`, an expression)."""
    limit = statement.args.get("limit")
    count = limit.expression if isinstance(limit, exp.Limit) else None
    if isinstance(count, exp.Literal) and count.is_int and int(count.name) <= max_rows:
        return
    statement.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))
