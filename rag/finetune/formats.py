"""The files of a training set folder, and reading them back.

- `examples.jsonl`: every example with its metadata (split, gold sources, answers): what
  `rag finetune eval` and `rag finetune embeddings` read.
- `train.jsonl`, `dev.jsonl`, `test.jsonl`: TRL's conversational prompt–completion form
  (`{"prompt": [messages], "completion": [assistant message]}`), which `SFTTrainer` trains with
  the loss on the completion only.
- `llamafactory/`: the same splits as LLaMA-Factory's sharegpt data with OpenAI-style message tags
  and its `dataset_info.json`, for users who train there (`dataset: rag_train`).
- `manifest.json`: counts, what was skipped and why, and the settings the examples were made with.

Files are written to a staging name and renamed, so an interrupted run never leaves a half-written
split that a later training would read as whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag.common.lines import numbered_lines
from rag.finetune.data import SPLITS, Example

EXAMPLES = "examples.jsonl"
MANIFEST = "manifest.json"
LLAMAFACTORY = "llamafactory"


class DataSetError(ValueError):
    """A training set folder cannot be read; the message names the file and line."""


def _write(path: Path, lines: Iterable[str]) -> None:
    staging = path.with_name(f".{path.name}.partial")
    with staging.open("w", encoding="utf-8") as stream:
        for line in lines:
            stream.write(line + "\n")
    os.replace(staging, path)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def trl_record(example: Example) -> dict[str, Any]:
    return {"prompt": example.prompt, "completion": example.completion}


def write_data_set(folder: Path, examples: list[Example], manifest: dict[str, Any]) -> dict[str, Any]:
    """Write every file; the manifest as written, with the examples per split."""
    folder.mkdir(parents=True, exist_ok=True)
    by_split = {split: [e for e in examples if e.split == split] for split in SPLITS}
    for split, chosen in by_split.items():
        _write(folder / f"{split}.jsonl", (_json(trl_record(e)) for e in chosen))
    factory = folder / LLAMAFACTORY
    factory.mkdir(exist_ok=True)
    info: dict[str, Any] = {}
    for split, chosen in by_split.items():
        name = f"rag_{split}.json"
        records = [{"messages": [*e.prompt, *e.completion]} for e in chosen]
        _write(factory / name, [json.dumps(records, ensure_ascii=False, indent=1)])
        info[f"rag_{split}"] = {
            "file_name": name,
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
                "system_tag": "system",
            },
        }
    _write(factory / "dataset_info.json", [json.dumps(info, indent=2)])
    manifest = {**manifest, "splits": {split: len(chosen) for split, chosen in by_split.items()}}
    manifest["unanswerable"] = {split: sum(not e.answerable for e in by_split[split]) for split in SPLITS}
    _write(folder / EXAMPLES, (_json(asdict(e)) for e in examples))
    _write(folder / MANIFEST, [json.dumps(manifest, indent=2, ensure_ascii=False)])
    return manifest


def read_examples(folder: Path, split: str | None = None) -> Iterator[Example]:
    """The examples of a training set folder (one split, or all)."""
    path = folder / EXAMPLES
    if not path.is_file():
        raise DataSetError(f"{folder} is not a training set made by `rag finetune data` (no {EXAMPLES})")
    for number, line in numbered_lines(path.read_text(encoding="utf-8")):
        try:
            example = Example(**json.loads(line))
        except (ValueError, TypeError) as exc:
            raise DataSetError(f"{path}, line {number}: not an example ({exc.__class__.__name__})") from None
        if split is None or example.split == split:
            yield example


def split_file(folder: Path, split: str) -> Path:
    """The TRL file of a split, which must exist and hold at least one example."""
    path = folder / f"{split}.jsonl"
    if not path.is_file() or not path.read_text(encoding="utf-8").strip():
        raise DataSetError(f"{path} is missing or empty: run `rag finetune data` (with a larger --limit)")
    return path
