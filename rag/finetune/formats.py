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
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any

from rag.evaluate.dataset import DatasetError, numbered_records
from rag.finetune.data import SPLITS, Example

EXAMPLES = "examples.jsonl"
MANIFEST = "manifest.json"
LLAMAFACTORY = "llamafactory"
#: every field of an example, and those a line must hold (the others have defaults)
_FIELDS = tuple(field.name for field in fields(Example))
_REQUIRED = tuple(field.name for field in fields(Example) if field.default is MISSING)


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
    """The examples of a training set folder (one split, or all), each line checked for what the
    readers use; an error names the file, the line and the field."""
    path = folder / EXAMPLES
    if not path.is_file():
        raise DataSetError(f"{path}: no such file (a training set is written by `rag finetune data`)")
    try:
        records = numbered_records(path)
    except DatasetError as exc:
        raise DataSetError(str(exc)) from None
    for number, record in records:
        where = f"{path}:{number}"
        missing = sorted(set(_REQUIRED) - set(record))
        if missing:
            raise DataSetError(f"{where}: missing {', '.join(missing)}")
        if record["split"] not in SPLITS:
            raise DataSetError(f"{where}: split must be one of {', '.join(SPLITS)}")
        chunks, texts = record["gold_chunks"], record["gold_texts"]
        if not (_strings(chunks) and _strings(texts) and len(chunks) == len(texts)):
            raise DataSetError(f"{where}: gold_chunks and gold_texts must be lists of strings, pairwise")
        if not isinstance(record["sources"], list) or not all(
            isinstance(s, dict) and isinstance(s.get("chunk_id"), str) and isinstance(s.get("gold"), bool)
            for s in record["sources"]
        ):
            raise DataSetError(f"{where}: sources must be objects with chunk_id and gold")
        example = Example(**{name: record[name] for name in _FIELDS if name in record})
        if split is None or example.split == split:
            yield example


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def split_file(folder: Path, split: str) -> Path:
    """The TRL file of a split, which must exist and hold at least one example."""
    path = folder / f"{split}.jsonl"
    if not path.is_file() or not path.read_text(encoding="utf-8").strip():
        raise DataSetError(f"{path} is missing or empty: run `rag finetune data` (with a larger --limit)")
    return path
