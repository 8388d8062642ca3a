"""The relational store (SQLite embedded default, PostgreSQL in production)."""

from rag.stores.sql.results import (
    CatalogueTable,
    DocumentDetails,
    FailedDocument,
    KbStats,
    KnowledgeBase,
    LearnedWeights,
    LedgerEntry,
)
from rag.stores.sql.store import SqlStore

__all__ = [
    "CatalogueTable",
    "DocumentDetails",
    "FailedDocument",
    "KbStats",
    "KnowledgeBase",
    "LearnedWeights",
    "LedgerEntry",
    "SqlStore",
]
