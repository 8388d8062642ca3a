"""Retrieval reads on a PostgreSQL standby (`RAG_SQL_REPLICA_URL`), never behind this process's writes.

A hot standby fed by streaming replication (`pg_basebackup -R`, a managed service's read
replica) answers the reads that retrieval makes on every question (keyword search, the text of
vector and graph hits, vector coverage, the table catalogue), so the primary keeps its capacity
for ingest, job claims and the ledger. Everything else reads and writes the primary.

A standby is a little behind. Two rules keep that from showing:

- **Read your own writes.** Every transaction this process commits on the primary marks the
  position it must see; the next routed read asks the primary for its WAL position once, and
  reads the standby only once the standby has replayed that far (`pg_last_wal_replay_lsn`),
  else the primary. The standby's position only grows, so once it is known to be far enough,
  reads go there without asking again until the next write.
- **Rows named by id come from the primary when the standby lacks them** (`Ledger.chunks_by_ids`):
  vector and graph hits name chunks another process (a worker) may have committed a moment ago.

Within the replication lag, keyword hits of a document another process just stored may still be
missing: the same staleness every read replica has, bounded by the lag. A standby that cannot
be reached, or that is not in recovery (promoted, or a different server), is left alone for
`retry_s` and the primary answers; one warning says so, naming the masked URL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rag.common.reasons import one_line
from rag.stores.errors import StoreUnavailable

log = logging.getLogger(__name__)


#: the mark a commit leaves on its connection's info until the connection is back in the pool
_COMMITTED = "rag_committed"


def _mark_commit(conn: Connection) -> None:
    conn.info[_COMMITTED] = True


def lsn_position(lsn: str) -> int:
    """PostgreSQL's `X/Y` log sequence number as one comparable integer."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


class ReadRouter:
    """Picks, per read, the standby when it has replayed this process's last commit, else the primary."""

    def __init__(self, primary: Engine, replica: Engine, description: str, retry_s: float = 30.0) -> None:
        self.primary = primary
        self.replica = replica
        self.description = description
        self.retry_s = retry_s
        #: reads served, by "replica" and "primary" (for `rag doctor` and the tests)
        self.served: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._wrote = True  # what the primary holds before this process started counts too
        self._needed = 0
        self._replayed = -1
        self._avoid_until = 0.0
        self._checking = False
        # SQLAlchemy's commit event fires before the COMMIT is sent: it marks the connection, and
        # the mark counts once the connection is back in the pool, its commit done
        sa.event.listen(primary, "commit", _mark_commit)
        sa.event.listen(primary.pool, "checkin", self._note_checkin)

    def _note_checkin(self, _dbapi_connection: Any, record: Any) -> None:
        if record is None or record.info.pop(_COMMITTED, False):  # None: invalidated, so unknown
            self._wrote = True

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for the next retrieval read: to the standby when it is current and
        answers, else to the primary. (A standby failing in the middle of a query fails that
        read; the next one finds it unreachable and reads the primary.)"""
        engine = self.replica if self._replica_current() else self.primary
        try:
            conn = engine.connect()
        except (sa.exc.SQLAlchemyError, StoreUnavailable) as exc:
            if engine is self.primary:
                raise
            self._avoid(f"unreachable: {one_line(exc, driver=True)}")
            conn = self.primary.connect()
        with self._lock:
            self.served["replica" if conn.engine is self.replica else "primary"] += 1
        with conn:
            yield conn

    def _replica_current(self) -> bool:
        """Whether the standby has replayed this process's commits. Asking the servers happens
        outside the lock, one thread at a time; the reads meanwhile go to the primary."""
        with self._lock:
            if time.monotonic() < self._avoid_until:
                return False
            if not self._wrote and self._replayed >= self._needed:
                return True
            if self._checking:
                return False
            self._checking = True
            wrote, self._wrote = self._wrote, False  # a commit from here on marks it again
        try:
            return self._ask(wrote)
        finally:
            with self._lock:
                self._checking = False

    def _ask(self, wrote: bool) -> bool:
        if wrote:
            try:
                needed = _written_position(self.primary)
            except BaseException:
                self._wrote = True  # still unknown: the next read asks again
                raise
            with self._lock:
                self._needed = max(self._needed, needed)
        try:
            replayed = _replayed_position(self.replica)
        except (sa.exc.SQLAlchemyError, StoreUnavailable) as exc:
            return self._avoid(f"unreachable: {one_line(exc, driver=True)}")
        if replayed is None:
            return self._avoid("not in recovery, so not a standby of RAG_SQL_URL")
        with self._lock:
            self._replayed = max(self._replayed, replayed)
            return self._replayed >= self._needed

    def _avoid(self, reason: str) -> bool:
        with self._lock:
            self._avoid_until = time.monotonic() + self.retry_s
            self._replayed = -1  # a standby that comes back proves its position again
        log.warning(
            "event=sql_replica_skipped replica=%r reason=%r retry_s=%s: the primary answers reads",
            self.description,
            reason,
            self.retry_s,
        )
        return False

    def lag_bytes(self) -> int | None:
        """How far the standby's replay is behind the primary's WAL, in bytes; None if unknown."""
        try:
            current, replayed = _written_position(self.primary), _replayed_position(self.replica)
        except (sa.exc.SQLAlchemyError, StoreUnavailable):
            return None
        return None if replayed is None else max(0, current - replayed)


def _written_position(primary: Engine) -> int:
    """The primary's current WAL position."""
    with primary.connect() as conn:
        return lsn_position(conn.execute(sa.text("SELECT pg_current_wal_lsn()")).scalar_one())


def _replayed_position(standby: Engine) -> int | None:
    """How far the standby has replayed; None when it is not in recovery (not a standby)."""
    with standby.connect() as conn:
        replayed = conn.execute(sa.text("SELECT pg_last_wal_replay_lsn()")).scalar_one()
    return None if replayed is None else lsn_position(replayed)
