"""Table shaping: type inference, header cleanup, records, row text, and the csv/xlsx loaders."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from ingest.loaders.base import LoaderError
from ingest.loaders.csv import CsvLoader, sniff_delimiter
from ingest.loaders.xlsx import XlsxLoader
from ingest.tables import (
    clean_header,
    infer_column,
    infer_table,
    rows_as_text,
    table_from_records,
    table_from_rows,
)
from rag.models import Column, Table
from rag.stores.sql.kb_tables import MAX_IDENTIFIER_BYTES, is_safe_identifier

# ---------------------------------------------------------------- type inference


@pytest.mark.parametrize(
    ("values", "expected_type", "expected"),
    [
        (["1", " -2 ", "+3", "1,234"], "integer", [1, -2, 3, 1234]),
        (
            ["1.5", "2", "-0.25", "1e3", "1,234.50"],
            "decimal",
            [Decimal(v) for v in ("1.5", "2", "-0.25", "1e3", "1234.50")],
        ),
        (["true", "False", "YES", "no", "是", "否"], "boolean", [True, False, True, False, True, False]),
        (
            ["2024-03-01", "2024/3/2", "2024.03.03", "2024年3月4日"],
            "date",
            [date(2024, 3, d) for d in (1, 2, 3, 4)],
        ),
        (
            ["2024-03-01 09:30", "2024-03-01T09:30:15.5"],
            "datetime",
            [datetime(2024, 3, 1, 9, 30), datetime(2024, 3, 1, 9, 30, 15, 500000)],
        ),
        (["hello", "世界"], "text", ["hello", "世界"]),
    ],
)
def test_a_column_takes_the_type_that_converts_every_value(
    values: list[str], expected_type: str, expected: list[object]
) -> None:
    assert infer_column(values) == (expected_type, expected)


def test_converted_values_are_python_types_and_decimals_are_exact() -> None:
    kind, values = infer_column(["0.1", "0.2"])
    assert kind == "decimal" and all(type(v) is Decimal for v in values)
    assert sum(values) == Decimal("0.3")
    assert infer_column(["1", "2"])[1] == [1, 2] and type(infer_column(["1"])[1][0]) is int


def test_empty_cells_are_null_and_do_not_spoil_the_type() -> None:
    assert infer_column(["1", "", None, "  ", "N/A", "-", "3"]) == (
        "integer",
        [1, None, None, None, None, None, 3],
    )
    assert infer_column(["2024-03-01", "", "null"]) == ("date", [date(2024, 3, 1), None, None])


def test_a_column_of_only_empty_cells_or_markers_is_text() -> None:
    assert infer_column([None, "", " "]) == ("text", [None, None, None])
    assert infer_column(["N/A", "-"]) == ("text", ["N/A", "-"])  # markers stay literal in text


@pytest.mark.parametrize(
    "values",
    [
        ["1", "2", "three"],  # a stray word
        ["1", "true"],  # numbers and booleans
        ["2024-03-01", "5"],  # dates and numbers
        ["007", "012"],  # leading zeros: codes, not numbers
        ["99999999999999999999", "1"],  # beyond 64-bit integers: identifiers
        ["2024-02-30"],  # not a real date
    ],
)
def test_mixed_or_unstorable_values_fall_back_to_text(values: list[str]) -> None:
    kind, converted = infer_column(values)
    assert kind == "text" and converted == values


def test_integers_and_decimals_mix_into_decimal() -> None:
    assert infer_column(["1", "2.5", None]) == ("decimal", [Decimal(1), Decimal("2.5"), None])


def test_day_month_order_is_read_only_when_the_column_settles_it() -> None:
    assert infer_column(["01/03/2024", "25/03/2024"]) == ("date", [date(2024, 3, 1), date(2024, 3, 25)])
    assert infer_column(["03/01/2024", "03/25/2024"]) == ("date", [date(2024, 3, 1), date(2024, 3, 25)])
    assert infer_column(["01/03/2024", "02/03/2024"])[0] == "text"  # every part ≤ 12: ambiguous
    assert infer_column(["13/01/2024", "01/13/2024"])[0] == "text"  # both orders: inconsistent


def test_dates_and_datetimes_mix_into_datetime_and_offsets_become_utc() -> None:
    kind, values = infer_column(["2024-03-01", "2024-03-01T10:00:00+08:00", "2024/03/02 08:15"])
    assert kind == "datetime"
    assert values == [datetime(2024, 3, 1), datetime(2024, 3, 1, 2, 0), datetime(2024, 3, 2, 8, 15)]


def test_typed_cells_from_spreadsheets_and_json_keep_their_types() -> None:
    assert infer_column([1, 2.5, None]) == ("decimal", [Decimal(1), Decimal("2.5"), None])
    assert infer_column([0.1]) == (
        "decimal",
        [Decimal("0.1")],
    )  # the float as shown, not its binary expansion
    assert infer_column([datetime(2024, 3, 1), datetime(2024, 3, 2)]) == (
        "date",
        [date(2024, 3, 1), date(2024, 3, 2)],
    )
    assert infer_column([datetime(2024, 3, 1, 9)])[0] == "datetime"
    assert infer_column([True, False, None]) == ("boolean", [True, False, None])
    assert infer_column([1, "x", True, 2.5]) == ("text", ["1", "x", "true", "2.5"])


# ---------------------------------------------------------------- header cleanup


def test_header_names_become_safe_unique_identifiers() -> None:
    names = clean_header(["Name", "name", None, "  ", "Order", "销售额（元）", "2024", "Sales Q1", "a-b.c"])
    assert names == [
        "name",
        "name_2",
        "column_3",
        "column_4",
        "order_",
        "销售额_元",
        "column_2024",
        "sales_q1",
        "a_b_c",
    ]
    assert all(is_safe_identifier(name) for name in names)


def test_long_header_names_stay_distinct_within_postgres_limit() -> None:
    names = clean_header(["x" * 100 + "1", "x" * 100 + "2", "长" * 30, "长" * 30])
    assert len(set(names)) == 4
    assert all(len(name.encode()) <= MAX_IDENTIFIER_BYTES and is_safe_identifier(name) for name in names)


def test_header_cleanup_is_idempotent() -> None:
    names = clean_header(["Order", "order", "", "2024", "销售 额", "x" * 80, "x" * 80])
    assert clean_header(names) == names


# ---------------------------------------------------------------- table shaping


def test_rows_are_padded_and_empty_rows_and_spacer_columns_dropped() -> None:
    table = infer_table(
        "t", ["id", None, "name"], [["1", "", "a", ""], [], ["", "", "", ""], ["2", None, "b"]]
    )
    assert [c.name for c in table.columns] == ["id", "name"]
    assert table.rows == [[1, "a"], [2, "b"]]


def test_first_row_is_the_header_unless_it_reads_like_data() -> None:
    with_header = table_from_rows("t", [["id", "2024"], ["1", "5"], ["2", "6"]])
    assert [c.name for c in with_header.columns] == ["id", "column_2024"] and len(with_header.rows) == 2
    headerless = table_from_rows("t", [["1", "Ana", "2.5"], ["2", "Ben", "3"]])
    assert [c.name for c in headerless.columns] == ["column_1", "column_2", "column_3"]
    assert headerless.rows[0] == [1, "Ana", Decimal("2.5")]


def test_records_become_a_table_over_the_union_of_their_keys() -> None:
    table = table_from_records(
        "people",
        [
            {"name": "Ada", "age": 36},
            {"age": 41, "name": "Alan", "tags": ["x"]},
            {"Name ": "dup", "born": "1815-12-10"},
        ],
    )
    assert [(c.name, c.type) for c in table.columns] == [
        ("name", "text"),
        ("age", "integer"),
        ("tags", "text"),
        ("name_2", "text"),
        ("born", "date"),
    ]
    assert table.rows[1] == ["Alan", 41, '["x"]', None, None]
    assert table.rows[2][4] == date(1815, 12, 10)
    with pytest.raises(ValueError, match="objects"):
        table_from_records("bad", [{"a": 1}, 2])  # type: ignore[list-item]


def test_row_text_names_every_value_and_carries_the_table() -> None:
    table = Table(
        name="budget",
        sheet="Revenue",
        columns=[Column("region", "text"), Column("sales_q1", "decimal"), Column("day", "date")],
        rows=[
            ["North", Decimal("1200.50"), date(2024, 1, 2)],
            ["South", None, None],
            ["多行\n文本", Decimal(1), None],
        ],
    )
    sections = list(rows_as_text(table, rows_per_section=2))
    assert len(sections) == 2
    first, second = sections
    assert first.text.splitlines()[1:] == [
        "region: North; sales_q1: 1200.50; day: 2024-01-02",
        "region: South",
    ]
    assert "budget" in first.text and "Revenue" in first.text
    assert first.metadata == {"table": "budget", "sheet": "Revenue", "rows": [1, 2]}
    assert second.metadata["rows"] == [3, 3]
    assert second.text.splitlines()[1] == "region: 多行 文本; sales_q1: 1"


# ---------------------------------------------------------------- csv


def test_csv_with_semicolons_in_gbk_loads_typed(tmp_path: Path) -> None:
    path = tmp_path / "销售.csv"
    path.write_bytes(
        '地区;金额;日期;备注\r\n华东;1200.50;2024/03/01;"含;分号"\r\n华南;;2024/03/02;普通\r\n'.encode("gbk")
    )
    document = CsvLoader().load(path)
    [table] = document.tables
    assert table.name == "销售"
    assert [(c.name, c.type) for c in table.columns] == [
        ("地区", "text"),
        ("金额", "decimal"),
        ("日期", "date"),
        ("备注", "text"),
    ]
    assert table.rows == [
        ["华东", Decimal("1200.50"), date(2024, 3, 1), "含;分号"],
        ["华南", None, date(2024, 3, 2), "普通"],
    ]
    assert document.metadata["delimiter"] == ";"
    text = "\n".join(section.text for section in document.sections)
    assert "地区: 华东; 金额: 1200.50; 日期: 2024-03-01" in text


def test_csv_bom_tabs_and_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "notes.tsv"
    path.write_bytes(b'\xef\xbb\xbfid\tnote\n1\t"two\nlines"\n2\tplain\n')
    [table] = CsvLoader().load(path).tables
    assert [c.name for c in table.columns] == ["id", "note"]  # no BOM left on the first name
    assert table.rows == [[1, "two\nlines"], [2, "plain"]]


@pytest.mark.parametrize(
    ("lines", "delimiter"),
    [
        (["a,b,c\n", "1,2,3\n"], ","),
        (["a;b\n", "1,5;2\n", "3;4\n"], ";"),
        (["a|b|c\n", "x|y|z\n"], "|"),
        (["a\tb\n", "1\t2\n"], "\t"),
        (["only\n", "one column\n"], ","),
    ],
)
def test_delimiter_is_sniffed(lines: list[str], delimiter: str) -> None:
    assert sniff_delimiter(lines) == delimiter


def test_header_only_csv_gives_an_empty_table_and_blank_csv_fails(tmp_path: Path) -> None:
    header_only = tmp_path / "h.csv"
    header_only.write_text("a,b\n")
    [table] = CsvLoader().load(header_only).tables
    assert [c.name for c in table.columns] == ["a", "b"] and table.rows == []
    blank = tmp_path / "blank.csv"
    blank.write_text("\n,,\n")
    with pytest.raises(LoaderError):
        CsvLoader().load(blank)


# ---------------------------------------------------------------- xlsx


def write_workbook(path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "Revenue"
    sheet.append(["Quarterly revenue 2024"])  # a title, merged over the table's width
    sheet.merge_cells("A1:D1")
    sheet.append(["Region", "Sales", None, "Updated"])
    sheet.append([None, "Q1", "Q2", None])
    sheet.merge_cells("B2:C2")  # "Sales" over Q1 and Q2
    sheet.merge_cells("A2:A3")  # "Region" spans both header rows
    sheet.merge_cells("D2:D3")
    sheet.append(["North", 1200, 1350.5, datetime(2024, 4, 1)])
    sheet.append([None, 300, 310, datetime(2024, 4, 2)])
    sheet.merge_cells("A4:A5")  # a body cell merged down two rows
    sheet.append(["South", 800, 950, datetime(2024, 4, 3)])
    staff = book.create_sheet("员工")
    staff.append(["姓名", "入职", "薪资", "在职"])
    staff.append(["Ana", "2021-03-01", 52000.5, "yes"])
    staff.append(["Ben", "2022-11-15", 61000.25, "no"])
    book.create_sheet("Empty")
    book.save(path)


def test_xlsx_sheets_become_tables_with_merged_and_two_row_headers(tmp_path: Path) -> None:
    path = tmp_path / "budget.xlsx"
    write_workbook(path)
    document = XlsxLoader().load(path)
    revenue, staff = document.tables  # the empty sheet is skipped
    assert (revenue.name, revenue.sheet, staff.sheet) == ("budget", "Revenue", "员工")
    assert [(c.name, c.type) for c in revenue.columns] == [
        ("region", "text"),
        ("sales_q1", "integer"),
        ("sales_q2", "decimal"),
        ("updated", "date"),
    ]
    assert revenue.rows == [
        ["North", 1200, Decimal("1350.5"), date(2024, 4, 1)],
        ["North", 300, Decimal("310"), date(2024, 4, 2)],  # the merged body cell, filled
        ["South", 800, Decimal("950"), date(2024, 4, 3)],
    ]
    assert [(c.name, c.type) for c in staff.columns] == [
        ("姓名", "text"),
        ("入职", "date"),
        ("薪资", "decimal"),
        ("在职", "boolean"),
    ]
    assert staff.rows[1] == ["Ben", date(2022, 11, 15), Decimal("61000.25"), False]


def test_xlsx_text_sections_carry_sheet_and_column_names(tmp_path: Path) -> None:
    path = tmp_path / "budget.xlsx"
    write_workbook(path)
    sections = list(XlsxLoader().load(path).sections)
    assert sections[0].text == "Quarterly revenue 2024"
    by_sheet = {s.metadata["sheet"]: s for s in sections[1:]}
    assert by_sheet.keys() == {"Revenue", "员工"}
    assert "region: South; sales_q1: 800; sales_q2: 950; updated: 2024-04-03" in by_sheet["Revenue"].text
    assert "姓名: Ana; 入职: 2021-03-01; 薪资: 52000.5; 在职: true" in by_sheet["员工"].text
    assert by_sheet["员工"].metadata == {"table": "budget", "sheet": "员工", "rows": [1, 2]}


def test_xlsx_single_header_row_without_merges(tmp_path: Path) -> None:
    path = tmp_path / "plain.xlsx"
    book = Workbook()
    book.active.append(["name", "city"])  # all text: the second row must not join the header
    book.active.append(["Ada", "London"])
    book.active.append(["Alan", "Wilmslow"])
    book.save(path)
    [table] = XlsxLoader().load(path).tables
    assert [c.name for c in table.columns] == ["name", "city"]
    assert table.rows == [["Ada", "London"], ["Alan", "Wilmslow"]]


def test_a_file_that_is_not_a_workbook_fails_with_a_loader_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LoaderError, match="xlsx"):
        XlsxLoader().load(path)
