"""Converters from the common public layouts into an `EvalSet`, and detection of the layout.

- `project`: this project's own folder (`corpus.jsonl` + `questions.jsonl`, see `dataset.py`).
- `beir`: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`) and
  `qrels/<split>.tsv` (`query-id`, `corpus-id`, `score`; `test` preferred) — graded relevance.
- `hotpotqa`: records with `question`, `answer`, `supporting_facts` ([title, sentence]) and
  `context` ([title, sentences]); the corpus is a separate `*corpus*.json` (title → sentences, or
  a list of `{title, text}`) beside the questions when there is one, else every record's context.
- `musique`: the original layout, records with `paragraphs` (`title`, `paragraph_text`,
  `is_supporting`), `answer` and `answer_aliases`; optionally a corpus file of `{title, text}`.
- `squad`: SQuAD's `data` → `paragraphs` → `qas`, or CMRC 2018's trial layout (`context_id`,
  `context_text`, `qas` with `query_text` and `answers`): a question's gold passage is its context.
- `text2sql`: Spider/BIRD records (`db_id`, `question`, gold `query`/`SQL`) over SQLite
  databases (see `text2sql.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rag.common.lines import numbered_lines
from rag.evaluate.dataset import (
    DatasetError,
    EvalQuestion,
    EvalSet,
    Passage,
    read_eval_set,
    read_json,
    read_jsonl,
)
from rag.evaluate.text2sql import is_text2sql, read_text2sql

FORMATS = ("project", "beir", "hotpotqa", "musique", "squad", "text2sql")


def load(path: Path, fmt: str = "auto") -> EvalSet:
    """Read a data set in `fmt`, or in the layout its files show when `fmt` is auto."""
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    fmt = detect(path) if fmt == "auto" else fmt
    readers: dict[str, Callable[[Path], EvalSet]] = {
        "project": read_eval_set,
        "beir": read_beir,
        "hotpotqa": read_hotpotqa,
        "musique": read_musique,
        "squad": read_squad,
        "text2sql": read_text2sql,
    }
    if fmt not in readers:
        raise DatasetError(f"unknown format {fmt!r}: choose auto or one of {', '.join(FORMATS)}")
    return readers[fmt](path).check(path)


def detect(path: Path) -> str:
    """The layout of a folder or JSON file, from its file names and its first record's keys."""
    if path.is_dir():
        if (path / "questions.jsonl").is_file() and (path / "corpus.jsonl").is_file():
            return "project"
        if (path / "queries.jsonl").is_file() and (path / "qrels").is_dir():
            return "beir"
        files = _question_files(path)
        if not files:
            raise DatasetError(
                f"{path}: no data set files recognised (see `rag eval --help` for the layouts)"
            )
        if any(is_text2sql(next(iter(_records(file)), None)) for file in files):
            return "text2sql"  # beside its schema file (Spider's tables.json), which holds no questions
        return _detect_records(files[0])
    return _detect_records(path)


def _question_files(folder: Path) -> list[Path]:
    return sorted(
        f for f in folder.iterdir() if f.suffix in (".json", ".jsonl") and "corpus" not in f.stem.lower()
    )


def _records(path: Path) -> list[Any]:
    data = read_jsonl(path) if path.suffix == ".jsonl" else read_json(path)
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return data["data"]
    return data if isinstance(data, list) else [data]


def _detect_records(path: Path) -> str:
    records = _records(path)
    first = records[0] if records and isinstance(records[0], dict) else {}
    if is_text2sql(first):
        return "text2sql"
    if "supporting_facts" in first:
        return "hotpotqa"
    if "paragraphs" in first and first["paragraphs"] and "paragraph_text" in first["paragraphs"][0]:
        return "musique"
    if "context_text" in first or "paragraphs" in first:
        return "squad"
    raise DatasetError(f"{path}: not a layout `rag eval` knows (keys {sorted(first)[:8]})")


# --------------------------------------------------------------------------------------------- BEIR
def read_beir(folder: Path) -> EvalSet:
    passages = [
        Passage(str(r["_id"]), str(r.get("title") or ""), str(r.get("text") or ""))
        for r in read_jsonl(folder / "corpus.jsonl")
    ]
    queries = {str(r["_id"]): str(r["text"]) for r in read_jsonl(folder / "queries.jsonl")}
    splits = sorted((folder / "qrels").glob("*.tsv"))
    if not splits:
        raise DatasetError(f"{folder / 'qrels'}: no .tsv file of relevance judgements")
    qrels = next((s for s in splits if s.stem == "test"), splits[0])
    gold: dict[str, dict[str, int]] = {}
    for number, line in numbered_lines(qrels.read_text(encoding="utf-8")):
        fields = line.split("\t")
        if number == 1 and not fields[-1].strip().lstrip("-").isdigit():
            continue  # the header
        if len(fields) < 3:
            raise DatasetError(f"{qrels}:{number}: expected query-id, corpus-id, score")
        if int(fields[2]) > 0:
            gold.setdefault(fields[0], {})[fields[1]] = int(fields[2])
    questions = [EvalQuestion(qid, queries[qid], judged) for qid, judged in gold.items() if qid in queries]
    return EvalSet(folder.name, passages, questions)


# ----------------------------------------------------------------------------------------- HotpotQA
def read_hotpotqa(path: Path) -> EvalSet:
    files = _question_files(path) if path.is_dir() else [path]
    records = [record for file in files for record in _records(file)]
    corpus_files = sorted(path.glob("*corpus*.json*")) if path.is_dir() else []
    if corpus_files:
        passages = list(_corpus_passages(corpus_files[0]))
    else:  # the distractor setting: every question's context paragraphs
        seen: dict[str, Passage] = {}
        for record in records:
            for title, sentences in record.get("context", []):
                seen.setdefault(title, Passage(title, title, "".join(sentences)))
        passages = list(seen.values())
    questions = []
    for n, record in enumerate(records):
        titles = dict.fromkeys(str(title) for title, _ in record["supporting_facts"])
        answers = [str(record["answer"])] if record.get("answer") else []
        questions.append(
            EvalQuestion(
                str(record.get("_id", n)), str(record["question"]), dict.fromkeys(titles, 1), answers
            )
        )
    return EvalSet(path.stem if path.is_file() else path.name, passages, questions)


def _corpus_passages(path: Path) -> Iterable[Passage]:
    """title → sentences (or text), or a list of `{title, text}` records."""
    data = read_jsonl(path) if path.suffix == ".jsonl" else read_json(path)
    if isinstance(data, dict):
        for title, body in data.items():
            yield Passage(str(title), str(title), "".join(body) if isinstance(body, list) else str(body))
        return
    for record in data:
        text = record.get("text") or record.get("paragraph_text") or ""
        title = str(record.get("title", ""))
        yield Passage(
            str(record.get("id") or _passage_id(title, text)),
            title,
            "".join(text) if isinstance(text, list) else str(text),
        )


# ----------------------------------------------------------------------------------------- MuSiQue
def _passage_id(title: str, text: str) -> str:
    """MuSiQue repeats titles with different paragraphs: the id is the pair's hash."""
    return hashlib.sha1(f"{title}\0{text}".encode()).hexdigest()[:16]


def read_musique(path: Path) -> EvalSet:
    files = _question_files(path) if path.is_dir() else [path]
    records = [record for file in files for record in _records(file)]
    passages: dict[str, Passage] = {}
    questions = []
    for n, record in enumerate(records):
        gold = {}
        for paragraph in record["paragraphs"]:
            title, text = str(paragraph.get("title", "")), str(paragraph["paragraph_text"])
            pid = _passage_id(title, text)
            passages.setdefault(pid, Passage(pid, title, text))
            if paragraph.get("is_supporting"):
                gold[pid] = 1
        answers = [str(a) for a in [record.get("answer"), *record.get("answer_aliases", [])] if a]
        questions.append(EvalQuestion(str(record.get("id", n)), str(record["question"]), gold, answers))
    if path.is_dir():
        for corpus in sorted(path.glob("*corpus*.json*")):
            for passage in _corpus_passages(corpus):
                passages.setdefault(passage.id, passage)
    return EvalSet(path.stem if path.is_file() else path.name, list(passages.values()), questions)


# ------------------------------------------------------------------------------------ SQuAD / CMRC
def read_squad(path: Path) -> EvalSet:
    files = _question_files(path) if path.is_dir() else [path]
    passages: list[Passage] = []
    questions: list[EvalQuestion] = []
    for file in files:
        for n, record in enumerate(_records(file)):
            if "context_text" in record:  # CMRC 2018 trial layout
                pid = str(record.get("context_id", f"{file.stem}-{n}"))
                passages.append(Passage(pid, "", str(record["context_text"])))
                for qa in record.get("qas", []):
                    answers = [
                        str(a.get("text", a)) if isinstance(a, dict) else str(a)
                        for a in qa.get("answers", [])
                    ]
                    questions.append(
                        EvalQuestion(str(qa["query_id"]), str(qa["query_text"]), {pid: 1}, answers)
                    )
                continue
            for p, paragraph in enumerate(record.get("paragraphs", [])):
                pid = str(paragraph.get("id") or f"{record.get('id') or record.get('title') or n}#{p}")
                passages.append(Passage(pid, str(record.get("title", "")), str(paragraph["context"])))
                for qa in paragraph.get("qas", []):
                    answers = [str(a["text"]) for a in qa.get("answers", []) if a.get("text")]
                    questions.append(EvalQuestion(str(qa["id"]), str(qa["question"]), {pid: 1}, answers))
    return EvalSet(path.stem if path.is_file() else path.name, passages, questions)
