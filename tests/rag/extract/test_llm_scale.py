"""LLM extraction at scale, through a real OpenAI-compatible server on 127.0.0.1 and the ingest pipeline
as `rag ingest` builds it from the settings: the concurrency setting is what the server sees, an ingest
the model server dropped out of resumes asking only for the chunks not cached, and the share of chunks
whose JSON failed reaches the summary and the log.

The server is the session's (it serves the packaged SmolLM2); replies computed from each request (slow
ones, valid JSON for some chunks and prose for others, 503 from an engine that went down) make the
counts exact, where SmolLM2's own extraction on a loaded CPU is neither fast nor predictable.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ingest.factory import open_ingest_pipeline
from ingest.pipeline import IngestSummary
from rag.cli import render
from rag.cli.render import print_ingest_summary
from rag.common.chat import ModelUnavailable
from rag.config import Settings
from rag.embed import Embedder
from rag.extract.factory import open_extractor
from rag.extract.llm import CACHE_FILE, LLMExtractor
from tests.builders import open_test_stores
from tests.rag.extract.test_llm import chunks
from tests.rag.generate import openai_server
from tests.rag.generate.openai_server import API_KEY, ChatServer

chat_server = openai_server.chat_server  # the session fixture

KB = "kb"
#: one short file per chunk; each names one entity the reply below grounds in its text
TEXTS = [f"Station {name} opened in 1901." for name in ("Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir")]


def reply_naming_the_station(body: dict[str, Any]) -> str:
    """A valid answer naming the station the chunk's text names (the user message ends with the text)."""
    station = body["messages"][1]["content"].split()[2]
    return json.dumps({"entities": [{"name": f"Station {station}", "type": "location"}]})


def settings_for(server: ChatServer, model: str, data: Path, concurrency: int) -> Settings:
    return Settings(
        data_dir=data,
        llm_url=server.url,
        llm_model=model,
        llm_api_key=API_KEY,
        extract_concurrency=concurrency,
        vector_index_threshold=0,
    )


def ingest(settings: Settings, embedder: Embedder, folder: Path) -> IngestSummary:
    with open_test_stores(settings) as stores:
        return open_ingest_pipeline(stores, embedder=embedder).run([folder], KB)


def write_files(folder: Path, texts: list[str]) -> Path:
    folder.mkdir()
    for n, text in enumerate(texts):
        (folder / f"{n}.txt").write_text(text)
    return folder


def cached_answers(data: Path) -> int:
    with sqlite3.connect(data / "cache" / CACHE_FILE) as db:
        return int(db.execute("SELECT count(*) FROM extractions").fetchone()[0])


@pytest.mark.parametrize("concurrency", [1, 3])
def test_the_concurrency_setting_is_how_many_requests_the_server_sees_at_once(
    chat_server: ChatServer, tmp_path: Path, concurrency: int
) -> None:
    def slow_engine(body: dict[str, Any]) -> str:
        time.sleep(0.3)  # long enough for every worker's request to be in flight together
        return reply_naming_the_station(body)

    model = f"slow-engine-{concurrency}"  # the peak is counted per model name
    chat_server.canned[model] = slow_engine
    extractor = open_extractor(settings_for(chat_server, model, tmp_path, concurrency))
    assert isinstance(extractor, LLMExtractor)
    batch = extractor.extract(KB, chunks(*TEXTS))
    assert chat_server.peak_in_flight[model] == concurrency
    assert len(chat_server.asked(model)) == len(TEXTS) and len(batch.entities) == len(TEXTS)


def test_an_ingest_the_model_server_dropped_out_of_resumes_asking_only_for_uncached_chunks(
    chat_server: ChatServer, embedder: Embedder, tmp_path: Path
) -> None:
    lock = threading.Lock()
    answered: list[str] = []
    engine_up = threading.Event()

    def engine(body: dict[str, Any]) -> str:
        """Dies while answering the first chunk (503 to it, retries too), after the others were
        answered beside it."""
        text = body["messages"][1]["content"]
        if "Alder" in text and not engine_up.is_set():
            time.sleep(0.2)
            raise ModelUnavailable("engine stopped")
        with lock:
            answered.append(text)
        return reply_naming_the_station(body)

    chat_server.canned["dying-engine"] = engine
    folder = write_files(tmp_path / "files", TEXTS)
    settings = settings_for(chat_server, "dying-engine", tmp_path / "data", concurrency=2)
    with pytest.raises(ModelUnavailable, match="503"):
        ingest(settings, embedder, folder)
    # every answer that arrived is cached, though the first chunk of the batch failed
    assert cached_answers(settings.data_dir) == len(TEXTS) - 1

    engine_up.set()
    before = len(answered)
    summary = ingest(settings, embedder, folder)
    assert summary.resumed == len(TEXTS)
    assert answered[before:] == [f"Text: {TEXTS[0]}"]  # only the chunk that had no answer
    assert sorted(answered) == sorted(f"Text: {text}" for text in TEXTS)  # each asked once overall
    counts = summary.extraction
    assert (counts.asked, counts.cached, counts.failed_json, counts.refused) == (1, 5, 0, 0)
    assert summary.entities == len(TEXTS)  # the cached answers built the graph like fresh ones
    assert cached_answers(settings.data_dir) == len(TEXTS)


def test_the_share_of_chunks_whose_json_failed_is_in_the_summary_and_the_log(
    chat_server: ChatServer,
    embedder: Embedder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def half_garbled(body: dict[str, Any]) -> str:
        """Valid JSON for Alder and Birch, prose (twice, so after the retry too) for the others."""
        text = body["messages"][1]["content"]
        return reply_naming_the_station(body) if "Alder" in text or "Birch" in text else "Stations."

    chat_server.canned["half-garbled"] = half_garbled
    folder = write_files(tmp_path / "files", TEXTS[:4])
    settings = settings_for(chat_server, "half-garbled", tmp_path / "data", concurrency=2)
    with caplog.at_level(logging.INFO):
        summary = ingest(settings, embedder, folder)

    assert len(chat_server.asked("half-garbled")) == 2 + 2 * 2  # the garbled two were retried once
    assert summary.extraction.failed_json == 2 and summary.extraction.failed_share == 0.5
    assert summary.as_dict()["extraction"] == {
        "asked": 4,
        "cached": 0,
        "failed_json": 2,
        "refused": 0,
        "failed_share": 0.5,
    }
    assert summary.entities == 2
    [line] = [r.getMessage() for r in caplog.records if "event=ingest_extracted" in r.getMessage()]
    assert f"kb={KB} asked=4 cached=0 failed_json=2 failed_share=0.5000 refused=0" in line
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Station" not in logged and "1901" not in logged  # no document text in logs

    console = Console(record=True, width=100)
    monkeypatch.setattr(render, "out", console)  # `rag ingest`'s table, as the terminal shows it
    print_ingest_summary(summary.as_dict())
    shown = console.export_text()
    assert "asked 4" in shown and "bad json 2" in shown and "50% bad" in shown
