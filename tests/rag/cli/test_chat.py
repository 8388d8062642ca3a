"""`rag chat` typed at through a real pseudo-terminal, and `rag ask --conversation` continuing the
conversation it stored: streamed answers with their sources, a follow-up searched for with the name
it refers to, `/new`, Ctrl-C stopping one answer, `/exit`, and Ctrl-D.

The chat runs as its own process whose controlling terminal is the pty, so Ctrl-C is the terminal's
SIGINT to the foreground process group, exactly as when a person presses it.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli.app import app
from rag.config import Settings
from rag.embed import Embedder
from rag.extract.heuristic import HeuristicExtractor
from tests.builders import SAMPLES, ingest_pipeline, open_test_stores

KB = "demo"
#: seconds one answer may take on a shared CPU (the model loads on the first one)
ANSWER_TIMEOUT_S = 300.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
#: make the pty the process's controlling terminal, then become `rag`: start_new_session made it a
#: session leader, and a leader that takes a terminal is its foreground process group
_AS_TERMINAL_LEADER = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'rag', *sys.argv[1:]])"
)
CONVERSATION = re.compile(r"conversation ([0-9a-f-]{36})")
PROMPT = "you> "


class Terminal:
    """A `rag` command on a pseudo-terminal: type lines and keys, wait for what it prints."""

    def __init__(self, data: Path, *args: str) -> None:
        self.master, replica = pty.openpty()
        env = {
            **os.environ,
            "RAG_DATA_DIR": str(data),
            "RAG_ANSWER_MAX_TOKENS": "40",
            "RAG_REWRITE_DEADLINE_S": "120",
            "COLUMNS": "200",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", _AS_TERMINAL_LEADER, *args],
            stdin=replica,
            stdout=replica,
            stderr=replica,
            env=env,
            start_new_session=True,
        )
        os.close(replica)
        self.seen = ""  # everything printed so far, without colours
        self.read_to = 0  # where the next `expect` starts looking

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, pattern: str, timeout: float = ANSWER_TIMEOUT_S) -> re.Match[str]:
        """The first match of `pattern` in what was printed since the last match, waiting for it."""
        wanted = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while not (found := wanted.search(self.seen, self.read_to)):
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in:\n{self.seen[self.read_to :]}"
            ready, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the process ended and closed its side
                    chunk = b""
                assert chunk or self.process.poll() is None, f"rag exited:\n{self.seen[self.read_to :]}"
                self.seen += _ANSI.sub("", chunk.decode(errors="replace")).replace("\r", "")
        self.read_to = found.end()
        return found

    def since(self, start: int) -> str:
        return self.seen[start : self.read_to]

    def close(self) -> int:
        try:
            return self.process.wait(timeout=60)
        finally:
            os.close(self.master)


@pytest.fixture
def data(data_with_models: Path, embedder: Embedder) -> Path:
    """A data folder with the sample corpus in `demo`, its stores closed again for `rag` to open."""
    with open_test_stores(Settings(data_dir=data_with_models)) as stores:
        pipeline = ingest_pipeline(stores, embedder, HeuristicExtractor(), chunk_size=200, chunk_overlap=20)
        assert pipeline.run([SAMPLES], KB).failed == 0
    return data_with_models


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    """Every terminal a test opens; a process still running at the end is stopped."""
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        if terminal.process.poll() is None:
            terminal.process.kill()
            terminal.close()


def test_a_terminal_conversation_is_streamed_cited_stored_and_continued(
    data: Path, terminals: list[Terminal]
) -> None:
    chat = Terminal(data, "chat", "--kb", KB)
    terminals.append(chat)
    first_id = chat.expect(CONVERSATION.pattern).group(1)
    chat.expect(PROMPT)

    chat.type("Who is the CEO of Northwind Robotics?\n")
    start = chat.read_to
    chat.expect(r"\[\d+\] handbook\.md")
    chat.expect(PROMPT)
    assert "Keller" in chat.since(start)

    chat.type("And when was it founded?\n")
    searched = chat.expect(r"searched for: ([^\n]+)").group(1)
    assert "Northwind" in searched
    chat.expect(r"\[\d+\] handbook\.md")
    chat.expect(PROMPT)

    chat.type("/new\n")
    second_id = chat.expect(CONVERSATION.pattern).group(1)
    assert second_id != first_id
    chat.expect(PROMPT)

    chat.type("What warranty do Northwind robots carry?\n")
    chat.expect(r"carry\?\n\s*\S")  # the echo of the line, then the first piece of the answer
    chat.type("\x03")  # Ctrl-C, as the terminal sends it
    chat.expect(r"\(stopped")
    chat.expect(PROMPT)
    chat.type("/exit\n")
    assert chat.close() == 0

    with open_test_stores(Settings(data_dir=data)) as stores:
        first = stores.sql.conversation(first_id)
        second = stores.sql.conversation(second_id)
    assert first is not None and second is not None
    assert [turn.question for turn in first.turns] == [
        "Who is the CEO of Northwind Robotics?",
        "And when was it founded?",
    ]
    assert first.turns[1].retrieval_question == searched.strip()
    assert first.title == "Who is the CEO of Northwind Robotics?"
    assert second.turns == []  # the stopped answer is not kept

    resumed = Terminal(data, "chat", "--conversation", first_id)
    terminals.append(resumed)
    assert resumed.expect(CONVERSATION.pattern).group(1) == first_id
    resumed.expect("2 turns so far")
    resumed.expect(PROMPT)
    resumed.type("\x04")  # Ctrl-D at the prompt
    assert resumed.close() == 0

    asked = CliRunner().invoke(
        app,
        ["ask", "Who is its chief technology officer?", "--conversation", first_id, "--json"],
        env={"RAG_DATA_DIR": str(data), "RAG_ANSWER_MAX_TOKENS": "40", "RAG_REWRITE_DEADLINE_S": "120"},
    )
    assert asked.exit_code == 0, asked.output
    shown = json.loads(asked.stdout)
    assert shown["conversation_id"] == first_id and shown["kb"] == KB
    with open_test_stores(Settings(data_dir=data)) as stores:
        continued = stores.sql.conversation(first_id)
    assert continued is not None and continued.turn_count == 3
    assert continued.turns[2].answer == shown["answer"]

    wrong = CliRunner().invoke(
        app,
        ["ask", "Anything?", "--conversation", first_id, "--kb", "other"],
        env={"RAG_DATA_DIR": str(data), "COLUMNS": "250"},
    )
    assert wrong.exit_code == 2 and "asks 'demo', not 'other'" in wrong.stderr
