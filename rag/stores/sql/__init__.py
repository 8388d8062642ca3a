"""The relational store (SQLite embedded default, PostgreSQL in production)."""

from rag.stores.sql.results import (
    CatalogueTable,
    Conversation,
    ConversationTurn,
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
    "Conversation",
    "ConversationTurn",
    "DocumentDetails",
    "FailedDocument",
    "KbStats",
    "KnowledgeBase",
    "LearnedWeights",
    "LedgerEntry",
    "SqlStore",
]
