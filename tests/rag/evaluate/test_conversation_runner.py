"""`rag eval` on a hand-made conversation folder: real ingestion, the real answer pipeline with the
packaged SmolLM2, each turn after the ones before it, and a report whose figures are its turns'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli.app import app
from rag.evaluate.conversation_metrics import ScoredTurn, conversation_scores
from rag.evaluate.conversations import read_conversation_set, write_conversation_set
from rag.generate.local import LocalChatModel

CORPUS = [
    {
        "id": "lena",
        "title": "Lena Park",
        "text": "Lena Park (born 1984 in Busan) is a robotics engineer. She joined Northwind Robotics "
        "in 2019, where she leads the warehouse team.",
    },
    {
        "id": "northwind",
        "title": "Northwind Robotics",
        "text": "Northwind Robotics is a company founded in 2011 in Oslo. It builds robots that pick "
        "goods in warehouses.",
    },
    {
        "id": "etna",
        "title": "Mount Etna",
        "text": "Mount Etna is an active volcano on the east coast of Sicily, Italy.",
    },
    {"id": "senet", "title": "Senet", "text": "Senet is a board game from ancient Egypt."},
]
CONVERSATIONS = [
    {
        "id": "lena",
        "shape": "pronoun",
        "turns": [
            {"question": "Who is Lena Park?", "gold": ["lena"]},
            {
                "question": "When did she join Northwind Robotics?",
                "standalone": "When did Lena Park join Northwind Robotics?",
                "gold": ["lena"],
                "answers": ["2019"],
            },
        ],
    },
    {
        "id": "opera",
        "shape": "pronoun",
        "turns": [
            {
                "question": "Who designed the Sydney Opera House?",
                "answerable": False,
                "unanswerable_kind": "off-topic",
            },
            {
                "question": "When was it finished?",
                "standalone": "When was the Sydney Opera House finished?",
                "answerable": False,
                "unanswerable_kind": "off-topic",
            },
        ],
    },
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dialog"
    folder.mkdir()
    for name, records in (("corpus.jsonl", CORPUS), ("conversations.jsonl", CONVERSATIONS)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return folder


@pytest.mark.slow
def test_a_conversation_folder_is_played_turn_by_turn_and_scored_from_its_turns(
    folder: Path, tmp_path: Path, smollm2: LocalChatModel, data_with_models: Path
) -> None:
    out = tmp_path / "report"
    env = {"RAG_DATA_DIR": str(data_with_models)}
    result = CliRunner().invoke(
        app, ["eval", str(folder), "--answer-tokens", "16", "--json", "--out", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["conversations"], report["turns"], report["passages"]) == (2, 4, 4)
    assert report["settings"]["answer_max_tokens"] == 16 and report["settings"]["llm"] == "in-process default"

    turns = [json.loads(line) for line in (out / "turns.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [t["id"] for t in turns] == ["lena/1", "lena/2", "opera/1", "opera/2"]
    corpus = {p["id"] for p in CORPUS}
    for turn in turns:
        assert turn["answer"] and set(turn["ranked"]) <= corpus
        assert set(turn["written"]) | set(turn["attributed"]) <= corpus
        assert turn["prompt_ready_ms"] > 0 and turn["answer_ms"] >= turn["prompt_ready_ms"]
    first, follow_up = turns[0], turns[1]
    assert first["how"] == "asked" and first["searched"] == first["question"]
    assert first["standalone_ranked"] is None
    # the follow-up had the first turn as history, so its "she" sent it to the rewrite
    assert follow_up["how"] in ("rewritten", "fallback") and follow_up["standalone_ranked"]
    assert turns[3]["unanswerable_kind"] == "off-topic" and not turns[3]["answerable"]
    rewrites = report["rewrites"]
    assert rewrites["follow_ups"] == 2 and sum(rewrites[h] for h in ("asked", "rewritten", "fallback")) == 4
    assert sum(report["fallbacks"].values()) == rewrites["fallback"]

    # the figures are those of the turns recorded
    scored = [
        ScoredTurn(
            gold=frozenset(t["gold"]),
            follow_up=t["standalone"] is not None,
            ranked=tuple(t["ranked"]),
            standalone_ranked=tuple(t["standalone_ranked"] or ()),
            verbatim_ranked=tuple(t["verbatim_ranked"] or ()),
            answer=t["answer"],
            answers=tuple(t["answers"]),
            abstained=t["abstained"],
            written=tuple(t["written"]),
            attributed=tuple(t["attributed"]),
            unanswerable_kind=t["unanswerable_kind"] or "",
        )
        for t in turns
    ]
    expected = {name: round(value, 4) for name, value in conversation_scores(scored).items()}
    assert report["scores"] == expected
    assert {"follow_up_recall@5_ratio", "abstained_unanswerable_off_topic"} <= set(report["targets"])
    assert report["latency_ms"]["prompt_ready_p50"] > 0 and "prompt_ready_p50_asked" in report["latency_ms"]

    # with questions.jsonl beside it (as the builder writes), the folder read as a project set:
    # its standalone forms, from the same KB
    write_conversation_set(read_conversation_set(folder), folder)
    plain = CliRunner().invoke(app, ["eval", str(folder), "--format", "project", "--json"], env=env)
    assert plain.exit_code == 0, plain.output
    standalone = json.loads(plain.stdout)
    assert standalone["questions"] == 2 and standalone["kb"] == report["kb"]
