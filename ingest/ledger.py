"""Multi-store writes and deletes in the one order that keeps the ledger truthful.

The relational ledger is the source of truth, so it is written first and forgotten last:
a crash at any point leaves rows that say more than the other stores hold (a re-run
finishes the work), never points or nodes that no row describes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from rag.stores.factory import Stores
from rag.stores.sql import LedgerEntry


def delete_documents(stores: Stores, entries: Iterable[LedgerEntry]) -> int:
    """Remove documents from every store: vectors and graph first, the ledger rows last."""
    by_kb: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        by_kb[entry.kb].append(entry.id)
    for kb, ids in by_kb.items():
        stores.vector.delete_documents(kb, ids)
        stores.graph.delete_documents(kb, ids)
        stores.sql.delete_documents(ids)
    return sum(len(ids) for ids in by_kb.values())


def delete_kb(stores: Stores, kb: str) -> None:
    """Remove a knowledge base from every store, the ledger last."""
    stores.vector.delete_kb(kb)
    stores.graph.delete_kb(kb)
    stores.sql.delete_kb(kb)
