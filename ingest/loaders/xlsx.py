"""Excel workbooks (.xlsx/.xlsm): every non-empty sheet → one typed table, plus its rows as text.

openpyxl's read-only mode streams cells and is about twice as fast as the normal mode on
large sheets, but it does not expose merged cells; those are read here straight from each
sheet's `<mergeCell ref="B1:C1"/>` elements (a regex over the sheet's XML, streamed; the same
pass counts the `<row>`s, so a workbook over RAG_MAX_TABLE_ROWS fails before openpyxl reads a
row), which keeps the streaming speed and still lets merges shape the table:

- a merged cell's value fills every cell of its range, so a body cell merged over three rows
  repeats on each row, and a header "Sales" merged over B1:C1 names both columns;
- leading rows that name the columns are the header, up to four deep: the first row unless
  it reads like data, then each following all-text row under a row with horizontal merges,
  or with text over a column whose body is numbers/dates. Header rows join per column:
  "Sales" over "Q1" → `sales_q1`;
- a leading row holding a single value at the left edge (a report title) is not a header;
  it becomes a text section of its own.

Cell values come typed from openpyxl (cached formula results, not formulas); the column
types are then inferred as for csv (`ingest.tables`).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import openpyxl
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.exceptions import InvalidFileException

from ingest.loaders.base import DEFAULT_LIMITS, Limits, LoadedDocument, LoaderError, Section
from ingest.tables import NULL_MARKERS, cell_type, infer_table, rows_as_text, to_text
from rag.models import Table

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_MERGE_REF = re.compile(rb"<(?:\w+:)?mergeCell\s[^>]*?ref=\"([A-Z]+[0-9]+:[A-Z]+[0-9]+)\"")
_ROW = re.compile(rb"<(?:\w+:)?row[\s>]")
_UNREADABLE = (zipfile.BadZipFile, KeyError, ElementTree.ParseError, InvalidFileException, OSError)
_MAX_HEADER_ROWS = 4
_SAMPLE_ROWS = 50
_SCAN_BYTES = 1 << 20

Grid = list[list[Any]]
Merge = tuple[int, int, int, int]  # first row, first column, last row, last column (0-based)


def _scan_sheets(path: Path) -> dict[str, tuple[list[Merge], int]]:
    """Each sheet's merged ranges and how many `<row>` elements it holds, found through
    workbook.xml and its relationships."""
    with zipfile.ZipFile(path) as archive:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(_PACKAGE_REL)}
        members = set(archive.namelist())
        sheets: dict[str, tuple[list[Merge], int]] = {}
        for sheet in workbook.iter(f"{_MAIN}sheet"):
            target = targets.get(sheet.get(_REL_ID), "")
            member = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
            if member not in members:
                continue
            refs, rows = _scan_sheet(archive, member)
            found = []
            for ref in refs:
                first_col, first_row, last_col, last_row = range_boundaries(ref.decode())
                found.append((first_row - 1, first_col - 1, last_row - 1, last_col - 1))
            sheets[sheet.get("name", "")] = (found, rows)
    return sheets


def _scan_sheet(archive: zipfile.ZipFile, member: str) -> tuple[list[bytes], int]:
    """The sheet's merged ranges and its row count, read a block at a time (a million-row sheet's
    XML is never whole in memory, and is counted in about a second, where openpyxl would take a
    minute to reach its end). A block ends at its last `>`, so no tag is split between two."""
    refs: list[bytes] = []
    rows = 0
    rest = b""
    with archive.open(member) as stream:
        while block := stream.read(_SCAN_BYTES):
            block = rest + block
            cut = block.rfind(b">") + 1
            refs.extend(_MERGE_REF.findall(block, 0, cut))
            rows += len(_ROW.findall(block, 0, cut))
            rest = block[cut:][-_SCAN_BYTES:]  # text with no ">" for a whole block holds no tag
    return refs, rows


def _fill_merges(grid: Grid, merges: list[Merge]) -> set[int]:
    """Copy each merged range's value over the range; returns rows with a horizontal merge."""
    width = max(map(len, grid), default=0)
    horizontal: set[int] = set()
    for first_row, first_col, last_row, last_col in merges:
        if first_row >= len(grid) or first_col >= width:
            continue
        last_row, last_col = min(last_row, len(grid) - 1), min(last_col, width - 1)
        if last_col > first_col:
            horizontal.add(first_row)
        source = grid[first_row]
        value = source[first_col] if first_col < len(source) else None
        for row in grid[first_row : last_row + 1]:
            if len(row) <= last_col:
                row.extend([None] * (last_col + 1 - len(row)))
            row[first_col : last_col + 1] = [value] * (last_col - first_col + 1)
    return horizontal


def _present(row: list[Any]) -> list[tuple[int, Any]]:
    """The row's cells that hold a value (null markers such as "N/A" hold none)."""
    return [(i, v) for i, v in enumerate(row) if (text := to_text(v)) and text.strip() not in NULL_MARKERS]


def _is_title(row: list[Any], below: Grid) -> bool:
    """A lone text value at the table's left edge, above rows of two or more values."""
    cells = _present(row)
    below_cells = [_present(r) for r in below]
    left = min((i for cells_ in below_cells for i, _ in cells_), default=0)
    return (
        bool(cells)
        and cells[0][0] <= left
        and len({v for _, v in cells}) == 1
        and max(map(len, below_cells), default=0) >= 2
        and cell_type(cells[0][1]) == "text"
    )


def _typed_columns(sample: Grid) -> set[int]:
    """Columns whose sampled body cells are mostly numbers, dates or booleans."""
    typed: dict[int, int] = {}
    for row in sample:
        for index, value in _present(row):
            typed[index] = typed.get(index, 0) + (1 if cell_type(value) != "text" else -1)
    return {index for index, balance in typed.items() if balance >= 0}


def _header_depth(rows: Grid, horizontal: set[int]) -> int:
    """How many leading rows name the columns (0: the first row is already data)."""
    typed = _typed_columns(rows[1 : 1 + _SAMPLE_ROWS])
    first = [(i, cell_type(v)) for i, v in _present(rows[0]) if i in typed]
    if sum(kind != "text" for _, kind in first) > sum(kind == "text" for _, kind in first):
        return 0
    depth = 1
    while depth < min(_MAX_HEADER_ROWS, len(rows) - 1):
        cells = _present(rows[depth])
        if not cells or any(cell_type(v) != "text" for _, v in cells):
            break
        if depth - 1 not in horizontal and not any(i in typed for i, _ in cells):
            break
        depth += 1
    return depth


def _header_names(rows: Grid) -> list[str]:
    """One name per column: the column's header cells top to bottom, repeats merged."""
    width = max(map(len, rows), default=0)
    names = []
    for column in range(width):
        parts: list[str] = []
        for row in rows:
            text = to_text(row[column]) if column < len(row) else None
            if text and (not parts or parts[-1] != text):
                parts.append(text)
        names.append(" ".join(parts))
    return names


def sheet_table(name: str, sheet: str, grid: Grid, merges: list[Merge]) -> tuple[Table | None, list[str]]:
    """A sheet's grid (rows of cell values from A1) → its table, and any title rows above it."""
    horizontal = _fill_merges(grid, merges)
    start = 0
    while start < len(grid) and not _present(grid[start]):
        start += 1
    titles = []
    while start + 1 < len(grid) and _is_title(grid[start], grid[start + 1 : start + 1 + _SAMPLE_ROWS]):
        titles.append(str(_present(grid[start])[0][1]))
        start += 1
        while start < len(grid) and not _present(grid[start]):
            start += 1
    rows = grid[start:]
    if not rows:
        return None, titles
    depth = _header_depth(rows, {r - start for r in horizontal})
    table = infer_table(name, _header_names(rows[:depth]), rows[depth:], sheet=sheet)
    return (table if table.columns else None), titles


class XlsxLoader:
    """`.xlsx`/`.xlsm` workbooks → one `Table` per non-empty sheet (`name`: file stem, `sheet`: title)."""

    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    extensions = (".xlsx", ".xlsm")

    def load(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument:
        tables: list[Table] = []
        sections: list[Iterator[Section]] = []
        rows_read = 0
        try:
            sheets = _scan_sheets(path)
            # openpyxl yields a row for every gap in the numbering too, so it reads at least these
            limits.check_rows(sum(rows for _, rows in sheets.values()) - 1, "the workbook")
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                for worksheet in workbook.worksheets:
                    worksheet.reset_dimensions()  # a wrong <dimension> would cut rows short
                    grid = []
                    for row in worksheet.iter_rows(values_only=True):
                        grid.append(list(row))
                        # every sheet's rows are held until the document is stored: count them all,
                        # the numbering's gaps included
                        limits.check_rows(
                            rows_read + len(grid) - 1, f"the workbook (at sheet {worksheet.title!r})"
                        )
                    rows_read += len(grid)
                    table, titles = sheet_table(
                        path.stem, worksheet.title, grid, sheets.get(worksheet.title, ([], 0))[0]
                    )
                    sections.append(
                        iter([Section(t, {"table": path.stem, "sheet": worksheet.title}) for t in titles])
                    )
                    if table is not None:
                        tables.append(table)
                        sections.append(rows_as_text(table))
            finally:
                workbook.close()
        except _UNREADABLE as error:
            raise LoaderError(f"not a readable xlsx workbook ({error})") from None
        return LoadedDocument(
            mime=self.mime,
            sections=chain.from_iterable(sections),
            tables=tables,
            metadata={"sheets": [table.sheet for table in tables]},
        )
