"""Tables found in documents: column types inferred, values converted, rows rendered as text.

Every table ingested passes through here (csv, xlsx sheets, JSON arrays), so inference works
column by column with one conversion attempt per type: a column of ints is read once, a
text column fails its first typed parse at its first value. A column takes the first type
that converts *every* non-empty value, in this order: integer, decimal, boolean, date,
datetime, else text. Decimals are `Decimal` (never float), so a sum in PostgreSQL is exact;
xlsx and JSON floats become `Decimal(repr(f))`, the shortest decimal that reads back as that
float, which is what a spreadsheet shows. Datetimes are naive; an offset is applied first
(UTC). Empty cells are `None` (SQL NULL); in a typed column so are the usual null markers
(`N/A`, `null`, `-`, ...), which stay literal text in a text column.

The row text renderer repeats the column names on every row ("amount: 12.50; region: 华东"),
so a chunk cut anywhere in a table still says what its numbers mean.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ingest.loaders.base import Section
from rag.models import Column, Table
from rag.stores.sql.kb_tables import sql_identifier

#: Written in typed columns for "no value"; they make the cell NULL instead of the column text.
NULL_MARKERS = frozenset(
    {
        "",
        "-",
        "--",
        "null",
        "NULL",
        "Null",
        "none",
        "None",
        "NONE",
        "nan",
        "NaN",
        "NAN",
        "n/a",
        "N/A",
        "NA",
        "#N/A",
    }
)
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "是": True, "否": False}
_INT64 = 2**63 - 1
_MIDNIGHT = datetime.min.time()

# Leading zeros ("007", "0123") mark codes, not numbers: such a column stays text.
_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)").fullmatch
_GROUPED_INT = re.compile(r"[+-]?[1-9][0-9]{0,2}(?:,[0-9]{3})+").fullmatch
_DECIMAL = re.compile(r"[+-]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?").fullmatch
_GROUPED_DECIMAL = re.compile(r"[+-]?[1-9][0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]+)?").fullmatch
# Groups: y, sep, m, d | a, sep, b, y2 | cy, cm, cd (年月日) | hour, minute, second, fraction.
_TEMPORAL = re.compile(
    r"(?:(?P<y>[0-9]{4})(?P<s1>[-/.])(?P<m>[0-9]{1,2})(?P=s1)(?P<d>[0-9]{1,2})"
    r"|(?P<a>[0-9]{1,2})(?P<s2>[-/.])(?P<b>[0-9]{1,2})(?P=s2)(?P<y2>[0-9]{4})"
    r"|(?P<cy>[0-9]{4})年(?P<cm>[0-9]{1,2})月(?P<cd>[0-9]{1,2})日)"
    r"(?:(?:T|\s+)(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:\.(?P<f>[0-9]{1,6}))?)?)?"
).fullmatch


class _TextColumn(Exception):
    """The column parses as a type but cannot be stored as one (integers beyond 64 bits)."""


def _to_int(value: Any) -> int | None:
    if type(value) is str:
        text = value.strip()
        if _INT(text):
            return int(text)
        if _GROUPED_INT(text):
            return int(text.replace(",", ""))
        if text in NULL_MARKERS:
            return None
    elif type(value) is int:
        return value
    raise ValueError(value)


def _to_decimal(value: Any) -> Decimal | None:
    kind = type(value)
    if kind is str:
        text = value.strip()
        if _DECIMAL(text):
            return Decimal(text)
        if _GROUPED_DECIMAL(text):
            return Decimal(text.replace(",", ""))
        if text in NULL_MARKERS:
            return None
    elif kind is float:
        if math.isfinite(value):
            return Decimal(repr(value))
    elif kind is int:
        return Decimal(value)
    elif kind is Decimal and value.is_finite():
        return value
    raise ValueError(value)


def _to_bool(value: Any) -> bool | None:
    if type(value) is bool:
        return value
    if type(value) is str:
        text = value.strip()
        found = _BOOLEANS.get(text.lower())
        if found is not None:
            return found
        if text in NULL_MARKERS:
            return None
    raise ValueError(value)


def _ints(values: list[Any]) -> list[Any]:
    out = [None if v is None else _to_int(v) for v in values]
    present = [v for v in out if v is not None]
    if present and (max(present) > _INT64 or min(present) < -_INT64 - 1):
        raise _TextColumn
    return out


def _decimals(values: list[Any]) -> list[Any]:
    return [None if v is None else _to_decimal(v) for v in values]


def _bools(values: list[Any]) -> list[Any]:
    return [None if v is None else _to_bool(v) for v in values]


def _naive(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _temporal(values: list[Any], with_time: bool) -> list[Any]:
    """Dates (or datetimes) of a column, or ValueError.

    Day-first and month-first strings (`01/03/2024`) are resolved across the column: some
    value must have a first part over 12 (day first) or a second part over 12 (month first),
    and not both; otherwise the column is ambiguous and stays text. Strings outside ISO form
    are parsed once per distinct value (a date column repeats its values a lot).
    """
    out: list[Any] = []
    pending: dict[str, list[int]] = {}  # distinct non-ISO string → where it occurs
    matches: dict[str, tuple[str | None, ...]] = {}
    for value in values:
        kind = type(value)
        if value is None:
            out.append(None)
        elif kind is datetime:
            if with_time:
                out.append(_naive(value))
            elif value.tzinfo is None and value.time() == _MIDNIGHT:
                out.append(value.date())  # spreadsheets store dates as midnight datetimes
            else:
                raise ValueError(value)
        elif kind is date:
            out.append(datetime(value.year, value.month, value.day) if with_time else value)
        elif kind is not str:
            raise ValueError(value)
        else:
            text = value.strip()
            if len(text) == 10 and text[4] == "-" and text[7] == "-":
                day = date.fromisoformat(text)
                out.append(datetime(day.year, day.month, day.day) if with_time else day)
            elif with_time and len(text) > 10 and text[4] == "-" and text[10] in "T ":
                out.append(_naive(datetime.fromisoformat(text)))
            elif text in pending:
                pending[text].append(len(out))
                out.append(None)
            elif text in NULL_MARKERS:
                out.append(None)
            else:
                match = _TEMPORAL(text)
                if match is None or (match["H"] is not None and not with_time):
                    raise ValueError(value)
                matches[text] = match.groups()
                pending[text] = [len(out)]
                out.append(None)
    if pending:
        for text, parsed in _parse_temporal_strings(matches, with_time).items():
            for index in pending[text]:
                out[index] = parsed
    return out


def _parse_temporal_strings(matches: dict[str, tuple[Any, ...]], with_time: bool) -> dict[str, date]:
    """Each distinct non-ISO string's date or datetime, the day/month order settled across all.

    `matches` holds each string's `_TEMPORAL` groups (tuples: `groupdict` is several times slower).
    """
    ambiguous = [(int(g[4]), int(g[6])) for g in matches.values() if g[4] is not None]
    day_first = any(first > 12 for first, _ in ambiguous)
    month_first = any(second > 12 for _, second in ambiguous)
    if ambiguous and day_first == month_first:
        raise ValueError("day/month order is ambiguous or inconsistent")
    parsed: dict[str, date] = {}
    for text, (y, _, m, d, a, _, b, y2, cy, cm, cd, hour, minute, sec, frac) in matches.items():
        if y is not None:
            year, month, day = int(y), int(m), int(d)
        elif cy is not None:
            year, month, day = int(cy), int(cm), int(cd)
        else:
            year, month, day = int(y2), *((int(b), int(a)) if day_first else (int(a), int(b)))
        if not with_time:
            parsed[text] = date(year, month, day)
            continue
        micro = int(frac.ljust(6, "0")) if frac else 0
        parsed[text] = datetime(year, month, day, int(hour or 0), int(minute or 0), int(sec or 0), micro)
    return parsed


def _dates(values: list[Any]) -> list[Any]:
    return _temporal(values, with_time=False)


def _datetimes(values: list[Any]) -> list[Any]:
    return _temporal(values, with_time=True)


_PARSERS: tuple[tuple[str, Callable[[list[Any]], list[Any]]], ...] = (
    ("integer", _ints),
    ("decimal", _decimals),
    ("boolean", _bools),
    ("date", _dates),
    ("datetime", _datetimes),
)


def to_text(value: Any) -> str | None:
    """How a value reads as text: in a text column, in row text, in a header."""
    kind = type(value)
    if kind is str:
        return value if value.strip() else None
    if value is None:
        return None
    if kind is bool:
        return "true" if value else "false"
    if kind is datetime:
        return value.isoformat(sep=" ")
    if kind is Decimal:
        return format(value, "f")
    if kind is float:
        return repr(value)
    if kind in (dict, list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value.isoformat() if kind is date else str(value)


def infer_column(values: list[Any]) -> tuple[str, list[Any]]:
    """The column's type and its values converted to it (see the module docstring)."""
    for type_name, parse in _PARSERS:
        try:
            converted = parse(values)
        except ValueError:
            continue
        except _TextColumn:
            break
        if any(v is not None for v in converted):
            return type_name, converted
        break  # nothing but empty cells and null markers: keep what was written
    return "text", [to_text(v) for v in values]


def cell_type(value: Any) -> str:
    """The type a cell would have on its own ("text" for an empty cell)."""
    return infer_column([value])[0]


def clean_header(header: Sequence[Any]) -> list[str]:
    """Safe, unique column names: blank → `column_<n>` (n = position), repeats → `name_2`."""
    names: list[str] = []
    seen: set[str] = set()
    for position, raw in enumerate(header, start=1):
        name = sql_identifier(to_text(raw) or "", "column", fallback=f"column_{position}")
        base, suffix = name, 2
        while name in seen:
            name = sql_identifier(f"{base}_{suffix}", "column")
            suffix += 1
        seen.add(name)
        names.append(name)
    return names


def _is_blank(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


def infer_table(name: str, header: Sequence[Any], rows: list[list[Any]], sheet: str | None = None) -> Table:
    """A typed `Table` from a header and raw rows (strings, or values a format already typed).

    Rows are padded to the widest row; wholly empty rows go, and so do columns that are
    wholly empty and have no header name (spacer columns, trailing delimiters).
    """
    rows = [row for row in rows if any(row) or not all(map(_is_blank, row))]
    width = max(len(header), max(map(len, rows), default=0))
    padded = [row if len(row) == width else [*row, *[None] * (width - len(row))] for row in rows]
    full_header = [*header, *[None] * (width - len(header))]
    columns = list(zip(*padded, strict=True)) if padded else [()] * width
    keep = [i for i in range(width) if not _is_blank(full_header[i]) or not all(map(_is_blank, columns[i]))]
    names = clean_header(full_header)
    typed = [infer_column(list(columns[i])) for i in keep]
    return Table(
        name=name,
        columns=[Column(names[i], type_name) for i, (type_name, _) in zip(keep, typed, strict=True)],
        rows=[list(row) for row in zip(*(values for _, values in typed), strict=True)],
        sheet=sheet,
    )


def first_row_is_header(row: Sequence[Any], types: Sequence[str]) -> bool:
    """Whether `row` names the columns of a body whose column types are `types`, or is data.

    Each column whose body is typed votes: a text cell on top of numbers or dates is a name,
    a typed cell is data. A tie, or a body of text columns only, counts as a header: most
    files have one.
    """
    header_votes = data_votes = 0
    for value, type_name in zip(row, types, strict=False):
        if type_name == "text" or _is_blank(value):
            continue
        if cell_type(value) == "text":
            header_votes += 1
        else:
            data_votes += 1
    return header_votes >= data_votes


def table_from_rows(name: str, rows: list[list[Any]], sheet: str | None = None) -> Table:
    """A typed `Table` from rows whose first row is the header, unless it looks like data."""
    if not rows:
        return infer_table(name, [], [], sheet)
    table = infer_table(name, rows[0], rows[1:], sheet)
    # a column's name is a function of its header cell's position and text, so this
    # finds each first-row cell's column even where spacer columns were dropped
    types = {column.name: column.type for column in table.columns}
    if len(rows) > 1 and not first_row_is_header(
        rows[0], [types.get(n, "text") for n in clean_header(rows[0])]
    ):
        return infer_table(name, [], rows, sheet)
    return table


def table_from_records(name: str, records: list[dict[str, Any]], sheet: str | None = None) -> Table:
    """A typed `Table` from a JSON array of flat objects: the union of keys, in first-seen order.

    A missing key is NULL; a nested value (object, array) becomes its JSON text.
    """
    keys: dict[str, None] = {}
    for record in records:
        if not isinstance(record, dict):
            raise ValueError(f"expected an array of objects, found {type(record).__name__}")
        keys.update(dict.fromkeys(record))
    header = list(keys)
    return infer_table(name, header, [[record.get(key) for key in header] for record in records], sheet)


def _one_line(value: Any) -> str | None:
    """A cell as row text: a multi-line value is folded so that one row stays one line."""
    text = to_text(value)
    return " ".join(text.split()) if text and ("\n" in text or "\r" in text) else text


def rows_as_text(table: Table, rows_per_section: int = 50) -> Iterator[Section]:
    """The table's rows as text sections, `rows_per_section` rows each, one "col: value; …" line per row.

    Empty cells are left out of a line. Each section starts with the table's name and row
    range and carries `table`, `sheet` (when there is one) and `rows` (1-based, inclusive) in
    its metadata.
    """
    names = [column.name for column in table.columns]
    label = table.name if table.sheet is None else f"{table.name} (sheet {table.sheet})"
    for start in range(0, len(table.rows), rows_per_section):
        batch = table.rows[start : start + rows_per_section]
        end = start + len(batch)
        lines = [f"Table {label}, rows {start + 1}-{end}:"]
        for row in batch:
            lines.append(
                "; ".join(f"{n}: {_one_line(v)}" for n, v in zip(names, row, strict=True) if v is not None)
            )
        metadata: dict[str, Any] = {"table": table.name, "rows": [start + 1, end]}
        if table.sheet is not None:
            metadata["sheet"] = table.sheet
        yield Section(text="\n".join(lines), metadata=metadata)
