"""Converters on small slices of each public layout, detection, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.evaluate.dataset import DatasetError, EvalSet, read_eval_set, write_eval_set
from rag.evaluate.formats import detect, load
from tests.builders import DATASETS

pytestmark = pytest.mark.fast

SHARED = DATASETS


def _write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data), encoding="utf-8")  # type: ignore[attr-defined]
    else:
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_beir_with_graded_qrels_and_a_header(tmp_path: Path) -> None:
    _write(
        tmp_path / "corpus.jsonl",
        [{"_id": "d1", "title": "Etna", "text": "A volcano."}, {"_id": "d2", "title": "", "text": "Rome."}],
    )
    _write(tmp_path / "queries.jsonl", [{"_id": "q1", "text": "volcano?"}, {"_id": "q2", "text": "unjudged"}])
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq1\td3x\t0\n"
    )
    assert detect(tmp_path) == "beir"
    loaded = load(tmp_path)
    assert [p.id for p in loaded.passages] == ["d1", "d2"]
    assert len(loaded.questions) == 1 and loaded.questions[0].gold == {"d1": 2, "d2": 1}


def test_hotpotqa_with_a_separate_corpus(tmp_path: Path) -> None:
    record = {
        "_id": "h1",
        "question": "Which city is the lab in?",
        "answer": "Lyon",
        "supporting_facts": [["Acme Lab", 0], ["Lyon", 1], ["Acme Lab", 2]],
        "context": [["Acme Lab", ["Acme Lab is in Lyon."]]],
    }
    _write(tmp_path / "qa.json", [record])
    _write(
        tmp_path / "train_corpus.json",
        {"Acme Lab": ["Acme Lab is ", "in Lyon."], "Lyon": ["Lyon is a city."], "Other": ["x"]},
    )
    assert detect(tmp_path) == "hotpotqa"
    loaded = load(tmp_path)
    assert {p.id for p in loaded.passages} == {"Acme Lab", "Lyon", "Other"}
    assert loaded.questions[0].gold == {"Acme Lab": 1, "Lyon": 1} and loaded.questions[0].answers == ["Lyon"]
    assert next(p for p in loaded.passages if p.id == "Acme Lab").text == "Acme Lab is in Lyon."


def test_hotpotqa_distractor_file_alone_takes_its_contexts_as_corpus(tmp_path: Path) -> None:
    record = {
        "question": "q",
        "answer": "a",
        "supporting_facts": [["T1", 0]],
        "context": [["T1", ["One. ", "Two."]], ["T2", ["Three."]]],
    }
    loaded = load(_write(tmp_path / "dev.json", [record]))
    assert [p.id for p in loaded.passages] == ["T1", "T2"] and loaded.passages[0].text == "One. Two."


def test_musique_original_layout_with_repeated_titles(tmp_path: Path) -> None:
    record = {
        "id": "2hop_1",
        "question": "Who founded the lab's city?",
        "answer": "Romans",
        "answer_aliases": ["the Romans"],
        "paragraphs": [
            {
                "idx": 0,
                "title": "Lyon",
                "paragraph_text": "Lyon was founded by the Romans.",
                "is_supporting": True,
            },
            {"idx": 1, "title": "Lyon", "paragraph_text": "Lyon has a lab.", "is_supporting": True},
            {"idx": 2, "title": "Paris", "paragraph_text": "Paris is big.", "is_supporting": False},
        ],
    }
    path = _write(tmp_path / "musique_dev.jsonl", [record])
    assert detect(path) == "musique"
    loaded = load(path)
    assert len(loaded.passages) == 3  # the two "Lyon" paragraphs stay apart
    assert len(loaded.questions[0].gold) == 2 and loaded.questions[0].answers == ["Romans", "the Romans"]


def test_squad_layout(tmp_path: Path) -> None:
    data = {
        "data": [
            {
                "title": "Etna",
                "paragraphs": [
                    {
                        "context": "Etna is in Sicily.",
                        "qas": [
                            {
                                "id": "s1",
                                "question": "Where is Etna?",
                                "answers": [{"text": "Sicily", "answer_start": 11}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    loaded = load(_write(tmp_path / "dev.json", data))
    assert loaded.passages[0].title == "Etna" and loaded.questions[0].gold == {loaded.passages[0].id: 1}
    assert loaded.questions[0].answers == ["Sicily"]


def test_the_shared_cmrc_trial_set_reads_as_squad() -> None:
    folder = SHARED / "cmrc2018_trial"
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing: the shared data sets sit beside the repository")
    loaded = load(folder)
    assert detect(folder) == "squad" and len(loaded.passages) == 256 and len(loaded.questions) == 1002
    assert loaded.questions[0].gold == {"TRIAL_800": 1} and loaded.questions[0].answers == ["踢爆"]


def test_the_shared_hotpotqa_set_reads_with_its_corpus() -> None:
    folder = SHARED / "hotpotqa_100"
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing: the shared data sets sit beside the repository")
    loaded = load(folder)
    assert len(loaded.passages) == 994 and len(loaded.questions) == 100
    assert sum(len(q.gold) for q in loaded.questions) >= 190  # most questions need two paragraphs


def test_the_project_format_round_trips(tmp_path: Path) -> None:
    original = load(
        _write(
            tmp_path / "in" / "dev.json",
            [{"question": "q", "answer": "a", "supporting_facts": [["T1", 0]], "context": [["T1", ["x"]]]}],
        )
    )
    write_eval_set(original, tmp_path / "own")
    again = read_eval_set(tmp_path / "own")
    assert detect(tmp_path / "own") == "project"
    assert again.passages == original.passages and again.questions == original.questions
    assert isinstance(again, EvalSet) and again.content_hash() == original.content_hash()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"x.json": "not json"}, "cannot read JSON"),
        ({"x.json": [{"foo": 1}]}, "not a layout"),
        (
            {
                "dev.json": [
                    {"question": "q", "supporting_facts": [["Missing", 0]], "context": [["T1", ["x"]]]}
                ]
            },
            "not in the corpus",
        ),
    ],
)
def test_bad_input_names_the_file_and_the_problem(
    tmp_path: Path, files: dict[str, object], message: str
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DatasetError, match=message) as caught:
        load(tmp_path)
    assert str(tmp_path) in str(caught.value)


#: Characters `str.splitlines()` splits at that JSON allows raw inside a string (MS MARCO holds U+0085).
_LINE_LIKE = "\u0085\u2028\u2029"


def test_a_beir_corpus_with_line_separators_inside_its_strings(tmp_path: Path) -> None:
    _write(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Etna", "text": f"A volcano.\u0085It erupts.\u2028Often.{_LINE_LIKE}"},
            {"_id": "d2", "title": "Rome\u2029", "text": "A city."},
        ],
    )
    _write(tmp_path / "queries.jsonl", [{"_id": "q1", "text": "which\u0085volcano?"}])
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\n")
    loaded = load(tmp_path)
    assert [p.id for p in loaded.passages] == ["d1", "d2"]
    assert loaded.passages[0].text == f"A volcano.\u0085It erupts.\u2028Often.{_LINE_LIKE}"
    assert loaded.questions[0].question == "which\u0085volcano?" and loaded.questions[0].gold == {"d1": 1}


def test_a_project_set_with_line_separators_and_crlf_reads_whole(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(
        '{"id": "p1", "title": "T\u2028", "text": "one\u0085two"}\r\n\r\n'
        '{"id": "p2", "title": "", "text": "three\u2029"}',
        encoding="utf-8",
    )
    _write(tmp_path / "questions.jsonl", [{"id": "q1", "question": "one\u2028?", "gold": ["p1"]}])
    loaded = read_eval_set(tmp_path)
    assert [(p.title, p.text) for p in loaded.passages] == [("T\u2028", "one\u0085two"), ("", "three\u2029")]
    assert loaded.questions[0].question == "one\u2028?"


def test_a_broken_json_line_is_named_by_its_line_number(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(
        '{"id": "p1", "text": "a\u0085b"}\n\n{"id": "p2", "text": \n', encoding="utf-8"
    )
    _write(tmp_path / "questions.jsonl", [{"id": "q1", "question": "?", "gold": ["p1"]}])
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:3: not JSON"):
        read_eval_set(tmp_path)


def test_a_missing_field_is_named_by_its_line_blank_lines_counted(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text('{"id": "p1", "text": "a"}\n\n{"id": "p2"}\n', encoding="utf-8")
    _write(tmp_path / "questions.jsonl", [{"id": "q1", "question": "?", "gold": ["p1"]}])
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:3: missing field 'text'"):
        read_eval_set(tmp_path)
