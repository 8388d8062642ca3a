"""CSV (and TSV) files: one typed table named after the file, plus its rows as text.

The bytes are decoded as a stream (`ingest.loaders.encoding.iter_decode`: BOM, UTF-8, else
the detected encoding, GB18030 for Chinese), cut into lines and fed to `csv.reader`; the
file is never held whole as bytes or text, only as the parsed rows the table needs. The
delimiter is sniffed from the first lines; the first row is the header unless it reads like
data (`ingest.tables.first_row_is_header`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path

from ingest.loaders.base import DEFAULT_LIMITS, Limits, LoadedDocument, LoaderError
from ingest.loaders.encoding import iter_decode
from ingest.tables import rows_as_text, table_from_rows

_DELIMITERS = (",", "\t", ";", "|")
_SNIFF_LINES = 50

# Long text cells are legitimate in exported data; the default limit (128 KiB) rejects them.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 26))


def _lines(pieces: Iterable[str]) -> Iterator[str]:
    """Whole lines (ends kept: `\\n`, `\\r\\n` or `\\r`) from text decoded piece by piece."""
    rest = ""
    for piece in pieces:
        lines = list(io.StringIO(rest + piece, newline=""))
        rest = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
        yield from lines
    if rest:
        yield rest


def sniff_delimiter(lines: list[str]) -> str:
    """The candidate that splits the lines into the most consistent field count.

    A candidate must give at least two fields on most lines; ties go to the earlier one in
    `, \\t ; |`. `csv.Sniffer` is not used: it guesses from character frequencies and picks
    letters or spaces on short samples.
    """
    best, best_score = ",", (0.0, 0)
    for delimiter in _DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        score = (counts.count(mode) / len(counts), mode)
        if mode >= 2 and score > best_score:
            best, best_score = delimiter, score
    return best


class CsvLoader:
    """`.csv` and `.tsv` files → one `Table` (named after the file stem) and its row text."""

    mime = "text/csv"
    extensions = (".csv", ".tsv")

    def load(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedDocument:
        with path.open("rb") as stream:
            lines = _lines(iter_decode(stream))
            head = list(islice(lines, _SNIFF_LINES))
            delimiter = sniff_delimiter(head)
            reader = csv.reader(chain(head, lines), delimiter=delimiter)
            rows = []
            try:
                for row in reader:
                    if row:
                        rows.append(row)
                        limits.check_rows(len(rows) - 1, "the csv file")  # the first may be the header
            except csv.Error as error:
                raise LoaderError(f"malformed csv near line {reader.line_num}: {error}") from None
        if not any(any(cell.strip() for cell in row) for row in rows):
            raise LoaderError("the csv file has no values")
        table = table_from_rows(path.stem, rows)
        return LoadedDocument(
            mime=self.mime,
            sections=rows_as_text(table),
            tables=[table],
            metadata={"delimiter": delimiter, "rows": len(table.rows), "columns": len(table.columns)},
        )
