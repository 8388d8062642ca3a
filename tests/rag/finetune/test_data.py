"""`rag finetune data` on a real KB: questions of one's own and questions a real model server
writes, split by document, hard distractors, the no-gold share, and both output formats."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.answer.abstain import SOURCES_SILENT
from rag.answer.prompts import ANSWER_SYSTEM
from rag.cli.app import app
from rag.evaluate.metrics import contains_answer
from rag.finetune.questions import judge, parse_reply

runner = CliRunner()

#: invented facts (no model knows them): file stem, text, question, answer
FACTS = [
    (
        "zorbania",
        "The capital of Zorbania is Quellport, a harbour city.",
        "What is the capital of Zorbania?",
        "Quellport",
    ),
    (
        "velmora",
        "The Velmora Bridge was opened in 1893 by the engineer Ada Krell.",
        "Who opened the Velmora Bridge?",
        "Ada Krell",
    ),
    (
        "tarsk",
        "Tarsk Dynamics builds the Hexa-9 drone in its Brimwick plant.",
        "Which drone does Tarsk Dynamics build?",
        "Hexa-9",
    ),
    ("ollen", "Lake Ollen is 412 metres deep at its deepest point.", "How deep is Lake Ollen?", "412 metres"),
    (
        "marvik",
        "The Marvik Orchestra is conducted by Ilse Varno since 2011.",
        "Who conducts the Marvik Orchestra?",
        "Ilse Varno",
    ),
    (
        "pellor",
        "Pellor tea is grown on the slopes of Mount Sarret.",
        "Where is Pellor tea grown?",
        "Mount Sarret",
    ),
    (
        "quorin",
        "The Quorin award is given every four years for bridge design.",
        "How often is the Quorin award given?",
        "every four years",
    ),
    (
        "dastra",
        "Dastra University has 18,400 students on its Kelm campus.",
        "How many students does Dastra University have?",
        "18,400",
    ),
    (
        "heliot",
        "The Heliot comet returns to the inner solar system every 71 years.",
        "How often does the Heliot comet return?",
        "every 71 years",
    ),
    (
        "brannock",
        "Brannock Castle was built from grey basalt in 1320.",
        "What was Brannock Castle built from?",
        "grey basalt",
    ),
    (
        "syrra",
        "The Syrra river flows into the Gulf of Amber near Portel.",
        "Where does the Syrra river flow into?",
        "the Gulf of Amber",
    ),
    (
        "fenwick",
        "Fenwick cheese is aged for nine months in limestone caves.",
        "How long is Fenwick cheese aged?",
        "nine months",
    ),
]
SECOND_QUESTIONS = [  # a second question on some documents: their examples must share a split
    ("zorbania", "Which harbour city is the capital of Zorbania?", "Quellport"),
    ("velmora", "In which year was the Velmora Bridge opened?", "1893"),
    ("tarsk", "Where does Tarsk Dynamics build the Hexa-9 drone?", "Brimwick"),
]
NEAR_DUPLICATE = ("Tell me: what is the capital of Zorbania?", "Quellport")


def rag(data_dir: Path, *args: str, **env: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"RAG_DATA_DIR": str(data_dir), "COLUMNS": "250", **env})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def facts_kb(data_with_models: Path, tmp_path: Path) -> Path:
    docs = tmp_path / "facts"
    docs.mkdir()
    for stem, text, _, _ in FACTS:
        title = stem.capitalize()
        (docs / f"{stem}.txt").write_text(f"{title}\n\n{text} Visitors often ask about {title}.\n")
    code, _, err = rag(data_with_models, "ingest", str(docs), "--kb", "facts")
    assert code == 0, err
    return data_with_models


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_own_questions_become_examples_split_by_document_with_hard_distractors(
    facts_kb: Path, tmp_path: Path
) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [(q, a) for _, _, q, a in FACTS] + [(q, a) for _, q, a in SECOND_QUESTIONS] + [NEAR_DUPLICATE]
    questions.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in rows))
    out = tmp_path / "set"
    code, stdout, err = rag(
        facts_kb, "finetune", "data", "--kb", "facts", "--out", str(out), "--questions", str(questions),
        "--sources", "3", "--no-gold-share", "0.3", "--dev-share", "0.25", "--test-share", "0.25", "--json",
    )  # fmt: skip
    assert code == 0, err
    manifest = json.loads(stdout)
    assert manifest["seeds"] == len(rows)
    assert manifest["seeds_skipped"] == {"near-duplicate question": 1}
    examples = _lines(out / "examples.jsonl")
    assert len(examples) == manifest["examples"] == len(rows) - 1

    splits_of_document: dict[str, set[str]] = defaultdict(set)
    for example in examples:
        splits_of_document[example["gold_documents"][0]].add(example["split"])
    assert all(len(splits) == 1 for splits in splits_of_document.values())
    assert {e["split"] for e in examples} == {"train", "dev", "test"}

    unanswerable = [e for e in examples if not e["answerable"]]
    assert 1 <= len(unanswerable) <= len(examples) // 2
    for example in examples:
        prompt, reply = example["prompt"], example["completion"][0]["content"]
        assert prompt[0]["role"] == "system" and prompt[0]["content"].startswith(ANSWER_SYSTEM)
        assert prompt[-1] == {"role": "user", "content": example["question"]}
        assert len(example["sources"]) <= 3
        shown = {s["chunk_id"] for s in example["sources"]}
        distractors = [s for s in example["sources"] if not s["gold"]]
        assert distractors, "every prompt holds retrieved distractors"
        if example["answerable"]:
            assert set(example["gold_chunks"]) <= shown
            assert contains_answer(example["gold_texts"][0], example["answers"])
            assert all(f"[{n}]" in reply for n in (s["n"] for s in example["sources"] if s["gold"]))
        else:
            assert not shown & set(example["gold_chunks"])
            assert reply == SOURCES_SILENT["en"]
        fenced = prompt[0]["content"]
        assert fenced.count("<source id=") == len(example["sources"])

    by_split = {split: _lines(out / f"{split}.jsonl") for split in ("train", "dev", "test")}
    assert {s: len(r) for s, r in by_split.items()} == manifest["splits"]
    assert all(set(record) == {"prompt", "completion"} for rows_ in by_split.values() for record in rows_)
    train_prompts = {json.dumps(r["prompt"]) for r in by_split["train"]}
    assert not train_prompts & {json.dumps(r["prompt"]) for r in by_split["test"]}

    info = json.loads((out / "llamafactory" / "dataset_info.json").read_text())
    assert set(info) == {"rag_train", "rag_dev", "rag_test"}
    for name, entry in info.items():
        assert entry["formatting"] == "sharegpt" and entry["tags"]["role_tag"] == "role"
        records = json.loads((out / "llamafactory" / entry["file_name"]).read_text())
        assert len(records) == manifest["splits"][name.removeprefix("rag_")]
        assert all([m["role"] for m in r["messages"]] == ["system", "user", "assistant"] for r in records)


def test_a_bad_line_in_the_questions_file_is_named(facts_kb: Path, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"question": "Who?", "answer": "Ada"}\n{"question": "Where?"}\n')
    code, _, err = rag(facts_kb, "finetune", "data", "--kb", "facts", "--out", str(tmp_path / "o"),
                       "--questions", str(questions))  # fmt: skip
    assert code == 2
    assert "questions.jsonl:2" in err and "answer" in err
    assert not (tmp_path / "o" / "examples.jsonl").exists()


def test_a_real_model_server_writes_the_questions(
    facts_kb: Path, smollm2_server: str, tmp_path: Path
) -> None:
    """The packaged SmolLM2 behind llama.cpp's OpenAI-compatible server writes the questions; only
    those whose answer stands in their chunk are kept."""
    out = tmp_path / "written"
    code, stdout, err = rag(
        facts_kb, "finetune", "data", "--kb", "facts", "--out", str(out), "--limit", "4", "--json",
        RAG_LLM_URL=smollm2_server, RAG_LLM_MODEL="smollm2",
    )  # fmt: skip
    assert code == 0, err
    manifest = json.loads(stdout)
    assert manifest["questions"] == "written by smollm2"
    examples = _lines(out / "examples.jsonl")
    assert examples, (manifest["questions_rejected"], manifest["seeds_skipped"])
    for example in examples:
        assert example["origin"] == "generated"
        assert judge(example["question"], example["answers"][0], example["gold_texts"][0]) is None


@pytest.mark.fast
def test_replies_are_read_in_the_two_line_form_or_not_at_all() -> None:
    assert parse_reply("Question: Who opened it?\nAnswer: Ada Krell.") == ("Who opened it?", "Ada Krell")
    assert parse_reply("**Question:** Who?\n\nThe answer is: Chen Wei") == ("Who?", "Chen Wei")
    assert parse_reply("问题：谁建造了它？\n答案：艾达") == ("谁建造了它？", "艾达")
    assert parse_reply("Question: Who opened it?") == ("Who opened it?", "")
    assert parse_reply("Sure! Here is a quiz.") is None


@pytest.mark.fast
def test_a_written_question_is_judged_against_its_passage() -> None:
    passage = "The Velmora Bridge was opened in 1893 by the engineer Ada Krell."
    assert judge("Who opened the Velmora Bridge?", "Ada Krell", passage) is None
    assert judge("Who opened the Velmora Bridge?", "Isambard Brunel", passage) == "answer not in the passage"
    assert judge("Was Ada Krell the engineer?", "Ada Krell", passage) == "answer given away by the question"
    assert judge("Bridge", "Ada Krell", passage) == "not a question"
    long = "the Velmora Bridge, opened in 1893 by Ada Krell, a famous engineer of the old northern city"
    assert judge("Who opened the Velmora Bridge?", long, passage) == "answer empty or too long"
