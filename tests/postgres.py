"""A real, throw-away PostgreSQL server started from the system's binaries.

Debian keeps `initdb`/`pg_ctl` under /usr/lib/postgresql/<version>/bin, off the PATH, so they
are looked up there. PostgreSQL refuses to run as root; as root the server runs as the
`postgres` system user (created by the Debian package) through `runuser`.

The server asks for a password (SCRAM), a new random one each session, as a real deployment
does: so a role's password is really checked (the SQL reader role's tests), and the suite has
a real secret whose absence from every log it can check (`tests/secrets_in_logs.py`).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.secrets_in_logs import SESSION
from tests.servers import free_port


def find_pg_bin() -> Path | None:
    """The newest PostgreSQL bin folder that has initdb and pg_ctl, or None."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


class PostgresServer:
    """A throw-away server in its own folder; `stop` and `start` again, as an operator (or a
    crash) would, for the fault tests. With `primary`, a hot standby of that (running) server,
    copied by `pg_basebackup -R` and streaming its WAL from then on, as a read replica is."""

    def __init__(self, primary: PostgresServer | None = None) -> None:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise FileNotFoundError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="rag-pg-"))
        self.data = self.root / "data"
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.port = free_port()
        if primary is not None:
            self._copy(primary)
            return
        password = SESSION.secret(secrets.token_urlsafe(18), "the test PostgreSQL password") or ""
        password_file = self.root / "password"
        password_file.write_text(password)
        if os.geteuid() == 0:
            os.chown(password_file, user.pw_uid, user.pw_gid)
        initdb = [str(bin_dir / "initdb"), "-D", str(self.data), "-U", "rag", "-E", "UTF8"]
        subprocess.run(
            _as_server_user([*initdb, "-A", "scram-sha-256", f"--pwfile={password_file}"]),
            check=True,
            capture_output=True,
            text=True,
        )
        password_file.unlink()
        self.url = f"postgresql+psycopg://rag:{password}@127.0.0.1:{self.port}/postgres"

    def _copy(self, primary: PostgresServer) -> None:
        """The primary's data folder as a standby's (`-R`: standby.signal and primary_conninfo)."""
        login = primary.url.split("//", 1)[1].split("@", 1)[0]
        password = login.split(":", 1)[1]
        # beside the server's own binaries (a pg_ctl on the PATH may be a link to them)
        tool = (self.bin_dir / "pg_ctl").resolve().parent / "pg_basebackup"
        backup = [str(tool), "-h", "127.0.0.1", "-p", str(primary.port)]
        subprocess.run(
            _as_server_user([*backup, "-U", "rag", "-D", str(self.data), "-R", "-X", "stream"]),
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": password},
        )
        self.url = primary.url.replace(f":{primary.port}/", f":{self.port}/")

    def start(self) -> None:
        listen = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        options = f"{listen} -c fsync=off -c full_page_writes=off"
        pg_ctl = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options]
        subprocess.run(
            _as_server_user([*pg_ctl, "-l", str(self.root / "log"), "-w", "start"]),
            check=True,
            capture_output=True,
            text=True,
        )

    def stop(self, mode: str = "immediate") -> None:
        """`immediate`: every backend killed at once, no checkpoint, as a crash or an OOM kill."""
        subprocess.run(
            _as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"]),
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop()
        SESSION.read_now(self.root / "log", "the PostgreSQL server log")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started server of its own; stopped and deleted afterwards."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@contextmanager
def standby_of(primary: PostgresServer) -> Iterator[PostgresServer]:
    """A started hot standby of `primary`; stopped and deleted afterwards."""
    server = PostgresServer(primary)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a server on a free loopback port; yield its SQLAlchemy URL; stop and delete it."""
    with postgres_server() as server:
        yield server.url


def create_database(server_url: str, prefix: str) -> str:
    """A new, empty database on the server, so a test never sees another test's rows; its URL."""
    import uuid

    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server_url.rsplit('/', 1)[0]}/{name}"


def drop_database(server_url: str, url: str) -> None:
    """Drop a database `create_database` made, even while a pool still holds connections to it."""
    import sqlalchemy as sa

    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()
