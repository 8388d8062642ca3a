"""`rag finetune data` as one call: questions (written or read), examples, files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.answer.pipeline import AnswerPipeline
from rag.common.chat import ChatModel
from rag.finetune.data import DataOptions, build_examples
from rag.finetune.formats import write_data_set
from rag.finetune.questions import Seed, read_questions, write_questions
from rag.stores.factory import Stores

#: chunks offered to the question writer per question wanted: small models fail the checks often
CHUNKS_PER_QUESTION = 3
#: chunks shorter than this (characters) rarely state a fact worth a question
MIN_CHUNK_CHARS = 80


@dataclass(frozen=True, slots=True)
class Progress:
    """Callbacks for the two long phases: questions written, then examples made."""

    written: Callable[[int], None] | None = None
    built: Callable[[int], None] | None = None


def make_data_set(
    stores: Stores,
    pipeline: AnswerPipeline,
    chat: ChatModel,
    kb: str,
    out: Path,
    *,
    limit: int,
    questions: Path | None = None,
    options: DataOptions | None = None,
    concurrency: int = 4,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the training set folder; its manifest (counts, rejections, settings)."""
    options = options or DataOptions()
    progress = progress or Progress()
    rejected: dict[str, int] = {}
    if questions is not None:
        seeds: list[Seed] = list(read_questions(questions))[: limit or None]
    else:
        chunks = [
            chunk
            for chunk in stores.sql.sample_chunks(kb, limit * CHUNKS_PER_QUESTION)
            if len(chunk[2]) >= MIN_CHUNK_CHARS
        ]
        written = write_questions(chat, chunks, limit, concurrency=concurrency, progress=progress.written)
        seeds, rejected = written.seeds, dict(written.rejected)
    built = build_examples(pipeline, stores.sql, kb, seeds, options, progress.built)
    manifest: dict[str, Any] = {
        "kb": kb,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "questions": str(questions) if questions else f"written by {chat.name}",
        "seeds": len(seeds),
        "examples": len(built.examples),
        "questions_rejected": rejected,
        "seeds_skipped": dict(built.skipped),
        "options": {
            "sources": options.sources,
            "no_gold_share": options.no_gold_share,
            "dev_share": options.dev_share,
            "test_share": options.test_share,
            "seed": options.seed,
        },
        "embed_model": stores.embedding.name,
    }
    return write_data_set(out, built.examples, manifest)
