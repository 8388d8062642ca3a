"""The project's evaluation format: passages, and questions with graded gold passages and answers.

On disk it is a folder with `corpus.jsonl` (`{"id", "title", "text"}` per line) and
`questions.jsonl` (`{"id", "question", "gold": {"<passage id>": grade}, "answers": [...]}`; `gold`
may also be a list of ids, each of grade 1). The converters in `formats.py` read the public
layouts into the same objects.

A text-to-SQL set (`text2sql.py`) is the same objects with two additions: its passages are the
tables of its SQLite databases, grouped by database (each database becomes a KB of its own, as
Spider and BIRD give each question one database), and its questions carry their gold SQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.common.lines import numbered_lines


class DatasetError(ValueError):
    """The data set cannot be read; the message names the file (and line) and what is wrong."""


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    title: str
    text: str
    #: the database (text-to-SQL sets) or other partition whose passages form one KB; "" for one KB
    group: str = ""
    #: for a table: the SQLite file it is exported from, as `<title>.csv`, instead of `text`
    database: Path | None = None

    @property
    def document(self) -> str:
        """What gets ingested: the title on its own line (it names the entity), then the text."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text


@dataclass(slots=True)
class EvalQuestion:
    id: str
    question: str
    #: gold passage id → relevance grade (1 relevant; higher more so)
    gold: dict[str, int]
    answers: list[str] = field(default_factory=list)
    group: str = ""
    #: the gold query of a text-to-SQL question, run on its group's database
    sql: str = ""


@dataclass(slots=True)
class EvalSet:
    name: str
    passages: list[Passage]
    questions: list[EvalQuestion]
    #: the whole set's hash, kept by `limited` when it drops groups: the KBs and the exported
    #: files stay those of the whole set, so a later run without --limit reuses them
    whole_hash: str = ""

    def content_hash(self) -> str:
        """Changes when any passage (or database) changes, so a KB built from an older copy is rebuilt."""
        if self.whole_hash:
            return self.whole_hash
        digest = hashlib.sha256()
        databases: dict[Path, str] = {}
        for passage in self.passages:
            digest.update(f"{passage.id}\0{passage.title}\0{passage.text}\0".encode())
            if passage.group:  # sets without groups keep the hash (and KB) they had
                digest.update(f"{passage.group}\0".encode())
            if passage.database is not None:
                if passage.database not in databases:
                    databases[passage.database] = _file_digest(passage.database)
                digest.update(databases[passage.database].encode())
        return digest.hexdigest()

    @property
    def groups(self) -> list[str]:
        """The passages' groups in first-seen order: [""] for a set that is one KB."""
        return list(dict.fromkeys(passage.group for passage in self.passages))

    def limited(self, count: int | None) -> EvalSet:
        """The first `count` questions. The whole corpus stays (distractors are part of the test),
        except for groups no kept question asks about: each group is a KB of its own."""
        if not count:
            return self
        questions = self.questions[:count]
        asked = {question.group for question in questions}
        kept = [p for p in self.passages if p.group in asked]
        return EvalSet(self.name, kept, questions, whole_hash=self.content_hash())

    @property
    def has_sql(self) -> bool:
        return any(question.sql for question in self.questions)

    def check(self, source: Path) -> EvalSet:
        """Reject what would make the figures meaningless: no questions, gold ids not in the corpus."""
        if not self.passages or not self.questions:
            raise DatasetError(f"{source}: no passages or no questions")
        known = {passage.id for passage in self.passages}
        for question in self.questions:
            missing = [pid for pid in question.gold if pid not in known]
            if missing:
                raise DatasetError(
                    f"{source}: question {question.id} names gold passages not in the corpus: {missing[:3]}"
                )
            if not question.gold:
                raise DatasetError(f"{source}: question {question.id} has no gold passage")
        if "" in self.groups and len(self.groups) > 1:
            raise DatasetError(f"{source}: some passages belong to a group (a database) and some do not")
        return self


def _file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One JSON object per line (see `numbered_records`)."""
    return [record for _, record in numbered_records(path)]


def numbered_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) per line that is not blank, so errors found later name the line; lines
    end at "\\n" only (`rag.common.lines`), since JSON strings may hold U+0085 or U+2028, where
    `str.splitlines()` would cut a record in two."""
    records = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    for number, line in numbered_lines(text):
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{path}:{number}: expected a JSON object")
        records.append((number, record))
    return records


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read JSON ({exc})") from None


def read_gold(value: Any, where: str) -> dict[str, int]:
    if isinstance(value, dict):
        return {str(key): int(grade) for key, grade in value.items() if int(grade) > 0}
    if isinstance(value, list):
        return {str(key): 1 for key in value}
    raise DatasetError(f"{where}: `gold` must be a list of passage ids or an object of id → grade")


def read_passages(path: Path) -> list[Passage]:
    """A `corpus.jsonl`: `{"id", "title", "text"}` per line, `title` optional."""
    passages = []
    for n, record in numbered_records(path):
        try:
            passages.append(Passage(str(record["id"]), str(record.get("title", "")), str(record["text"])))
        except KeyError as exc:
            raise DatasetError(f"{path}:{n}: missing field {exc}") from None
    return passages


def read_eval_set(folder: Path) -> EvalSet:
    """The project's own format (see the module docstring)."""
    passages = read_passages(folder / "corpus.jsonl")
    questions = []
    for n, record in numbered_records(folder / "questions.jsonl"):
        where = f"{folder / 'questions.jsonl'}:{n}"
        try:
            questions.append(
                EvalQuestion(
                    str(record["id"]),
                    str(record["question"]),
                    read_gold(record["gold"], where),
                    [str(answer) for answer in record.get("answers", [])],
                )
            )
        except KeyError as exc:
            raise DatasetError(f"{where}: missing field {exc}") from None
    return EvalSet(folder.name, passages, questions).check(folder)


def write_eval_set(eval_set: EvalSet, folder: Path) -> None:
    """Write a set in the project's format (a converter's output, to inspect or share)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(
        folder / "corpus.jsonl",
        ({"id": passage.id, "title": passage.title, "text": passage.text} for passage in eval_set.passages),
    )
    write_jsonl(
        folder / "questions.jsonl",
        (
            {
                "id": question.id,
                "question": question.question,
                "gold": question.gold,
                "answers": question.answers,
            }
            for question in eval_set.questions
        ),
    )


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """One object per line, non-ASCII as it is (Chinese stays readable in the file)."""
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
