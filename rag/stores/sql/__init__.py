"""The relational store (SQLite embedded default, PostgreSQL in production)."""

from rag.stores.sql.store import LedgerEntry, SqlStore

__all__ = ["LedgerEntry", "SqlStore"]
