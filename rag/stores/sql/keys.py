"""API keys: created once and shown once, stored as a SHA-256 hash, each scoped to named KBs.

A key is 32 random bytes, so a plain SHA-256 is enough to store it (no dictionary to guess
from, unlike a password); looking a key up by its hash also keeps the comparison out of Python,
where a character-by-character `==` could leak timing.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rag.stores.sql.schema import api_keys

#: every key starts with this, so a leaked one is recognisable in logs and secret scanners
PREFIX = "rag-"


@dataclass(frozen=True, slots=True)
class Grant:
    """What one key may do: read (and with `can_write`, change) the KBs it names."""

    key_id: str
    kbs: frozenset[str]
    can_write: bool


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    """The key table of the relational store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, kbs: list[str], can_write: bool = False) -> tuple[str, str]:
        """A new key for `kbs`: (its id, the secret, which is never stored and cannot be shown again)."""
        if not kbs:
            raise ValueError("a key must name at least one knowledge base")
        secret = PREFIX + secrets.token_urlsafe(32)
        key_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=key_id,
                    key_hash=key_hash(secret),
                    kbs=sorted(set(kbs)),
                    can_write=can_write,
                    created_at=datetime.now(UTC),
                )
            )
        return key_id, secret

    def verify(self, secret: str) -> Grant | None:
        """The grant of a key, or None for a key that does not exist."""
        query = sa.select(api_keys.c.id, api_keys.c.kbs, api_keys.c.can_write).where(
            api_keys.c.key_hash == key_hash(secret)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return Grant(row.id, frozenset(row.kbs), bool(row.can_write)) if row else None

    def any(self) -> bool:
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(api_keys.c.id).limit(1)) is not None

    def list(self) -> list[dict[str, object]]:
        """Every key's id, KBs, write flag and creation time (never a hash)."""
        query = sa.select(api_keys.c.id, api_keys.c.kbs, api_keys.c.can_write, api_keys.c.created_at)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query.order_by(api_keys.c.created_at))]

    def revoke(self, key_id: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(api_keys.delete().where(api_keys.c.id == key_id)).rowcount > 0
