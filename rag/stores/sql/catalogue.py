"""The table catalogue: one row per ingested table, beside the real SQL table it describes.

Text-to-SQL reads the catalogue (names, columns, a few sample rows) to decide which tables a
question is about and to show them to the model, without touching the tables themselves. Every
function takes a `Connection` whose transaction belongs to the caller, so a catalogue row lands
or goes together with its table and its document's ledger row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rag.models import Document, Table, stable_id
from rag.stores.sql import kb_tables as kb_namespace
from rag.stores.sql.results import CatalogueTable
from rag.stores.sql.schema import documents
from rag.stores.sql.schema import kb_tables as catalogue

_SAMPLE_ROWS = 3


def _jsonable(value: Any) -> Any:
    """Catalogue sample rows hold dates and decimals; JSON columns need plain values."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def write_table(conn: Connection, document: Document, position: int, table: Table) -> None:
    """Create the document's `position`-th table in its KB's namespace and catalogue it."""
    # the document id keeps same-named files in different folders apart
    base = table.name if table.sheet is None else f"{table.name}_{table.sheet}"
    name = kb_namespace.write_table(conn, document.kb, f"{base}_{document.id[:8]}", table)
    conn.execute(
        catalogue.insert().values(
            id=stable_id("table", document.id, position),
            kb=document.kb,
            document_id=document.id,
            name=name,
            source_name=table.name if table.sheet is None else f"{table.name} / {table.sheet}",
            description=f"{table.name} from {Path(document.source).name}"
            + (f", sheet {table.sheet}" if table.sheet else "")
            + f": {len(table.rows)} rows",
            columns=[{"name": c.name, "type": c.type} for c in table.columns],
            sample_rows=[[_jsonable(v) for v in row] for row in table.rows[:_SAMPLE_ROWS]],
            row_count=len(table.rows),
        )
    )


def drop_tables_of(conn: Connection, document_ids: list[str]) -> None:
    """Drop the SQL tables of these documents; their catalogue rows go with the documents' rows."""
    tables = conn.execute(
        sa.select(catalogue.c.kb, catalogue.c.name).where(catalogue.c.document_id.in_(document_ids))
    ).all()
    for kb, name in tables:
        kb_namespace.drop_table(conn, kb, name)


def list_tables(conn: Connection, kb: str) -> list[CatalogueTable]:
    """The catalogue of the KB's tables (what text-to-SQL will see), each with its document's source."""
    query = (
        sa.select(catalogue, documents.c.source)
        .join(documents, documents.c.id == catalogue.c.document_id)
        .where(catalogue.c.kb == kb)
        .order_by(catalogue.c.name)
    )
    return [CatalogueTable(**row._mapping) for row in conn.execute(query)]
