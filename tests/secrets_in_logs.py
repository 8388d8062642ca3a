"""Keys, passwords and document text must never reach a log: this finds them in every log the suite makes.

One `LeakDetector` lives for the test session (`tests/conftest.py` installs it). It learns the
secrets the suite uses as they are made, not from a list kept by hand:

- every `SecretStr` built (so every `Settings` secret: `RAG_LLM_API_KEY`, `RAG_ADMIN_KEY`,
  `RAG_VECTOR_API_KEY`, `RAG_NEO4J_PASSWORD`, whatever a test sets them to);
- every API key `ApiKeys.create` mints (fixtures, `POST /v1/keys`, `rag keys create`);
- the password of the test PostgreSQL server, and any a test registers itself (`secret`);
- document canaries: sentences of test documents that must stay out of logs (`secret` too).

And it reads every log: each record any logger of this process emits (the project's own loggers
at DEBUG, so their INFO lines are read although the default level would drop them; uvicorn's
when a test serves the app), the files that servers started by the suite write
(`running_server`'s logs, the PostgreSQL server log), and text a test hands it (`text`: a
subprocess's stderr). At the session's end, `findings` lists every secret found, where, and
what it was; the session fails on any.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: shorter values are words, not secrets: they would match by chance
MIN_SECRET_LENGTH = 8
#: the part of a record or file read; a leak sits near the start of a line of a log
MAX_TEXT_CHARS = 200_000
#: loggers of the project, read at every level
PROJECT_LOGGERS = ("rag", "api", "ingest")


@dataclass(frozen=True, slots=True)
class Finding:
    what: str  # which secret
    where: str  # which log
    shown: str  # the secret, masked

    def __str__(self) -> str:
        return f"{self.what} ({self.shown}) in {self.where}"


class _Recorder:
    """Reads each record as it is made (a record factory), so a logger that does not propagate
    to the root (uvicorn's, once its own logging config ran in this process) or was disabled
    by a `dictConfig` is read as well."""

    def __init__(self, detector: LeakDetector) -> None:
        self.detector = detector
        self.formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        self.previous: Callable[..., logging.LogRecord] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        assert self.previous is not None
        record = self.previous(*args, **kwargs)
        try:
            text = self.formatter.format(record)
        except Exception:  # a record that cannot be formatted holds nothing to leak
            return record
        self.detector.text(f"log record of {record.name}", text)
        return record


class LeakDetector:
    """The secrets a session used and the logs it wrote, and which of the first are in the second."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.texts: list[tuple[str, str]] = []
        self.files: dict[Path, str] = {}
        self.recorder = _Recorder(self)
        self._levels: dict[str, int] = {}

    def secret(self, value: str | None, what: str) -> str | None:
        """Remember `value` as a secret (if long enough to be one); returns it, for use inline."""
        if value and len(value) >= MIN_SECRET_LENGTH:
            self.secrets.setdefault(value, what)
        return value

    def text(self, where: str, text: str) -> None:
        self.texts.append((where, text[:MAX_TEXT_CHARS]))

    def log_file(self, path: Path, what: str) -> None:
        """A log file a server writes; read at the end (or now, with `read_now`, if it will be deleted)."""
        self.files[Path(path)] = what

    def read_now(self, path: Path, what: str) -> None:
        self.files.pop(Path(path), None)
        if Path(path).is_file():
            self.text(what, Path(path).read_text(errors="replace")[:MAX_TEXT_CHARS])

    def install(self) -> None:
        """Read every record of this process from now on, the project's at every level."""
        self.recorder.previous = logging.getLogRecordFactory()
        logging.setLogRecordFactory(self.recorder)
        for name in PROJECT_LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)

    def uninstall(self) -> None:
        if self.recorder.previous is not None:
            logging.setLogRecordFactory(self.recorder.previous)
            self.recorder.previous = None
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)

    def findings(self) -> list[Finding]:
        for path, what in list(self.files.items()):
            self.read_now(path, f"{what} ({path})")
        found = {}
        for where, text in self.texts:
            for value, what in self.secrets.items():
                if value in text:
                    found.setdefault((what, where), Finding(what, where, mask(value)))
        return list(found.values())


#: the session's detector: tests/conftest.py installs it and checks it at the end
SESSION = LeakDetector()


def mask(value: str) -> str:
    """Enough of a secret to tell which it was, not enough to use it."""
    return f"{value[:3]}…({len(value)} chars)"
