"""`rag eval` end to end on a 20-question slice of the shared HotpotQA set (its questions with their
own context paragraphs as the corpus): real ingestion, real retrieval, the report's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.answer.pipeline import open_pipeline
from rag.cli.app import app
from rag.config import Settings
from rag.evaluate.formats import load
from rag.evaluate.metrics import recall_at
from rag.evaluate.runner import passage_ranking, write_corpus
from rag.generate.local import LocalChatModel
from tests.builders import DATASETS, open_test_stores

SHARED = DATASETS / "hotpotqa_100"
METRICS = {"recall@1", "recall@5", "recall@10", "complete@5", "ndcg@10", "mrr"}


@pytest.fixture(scope="module")
def hotpot_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 questions in HotpotQA's distractor layout, without the big corpus file."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is missing: the shared data sets sit beside the repository")
    records = json.loads((SHARED / "qa_train.json").read_text(encoding="utf-8"))[:20]
    path = tmp_path_factory.mktemp("hotpot") / "hotpot_dev_20.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.mark.slow
def test_rag_eval_reports_every_retriever_and_the_fusion(
    hotpot_slice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["eval", str(hotpot_slice), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["questions"] == 20 and report["dataset"] == "hotpot_dev_20"
    assert set(report["retrievers"]) == {"vector", "keyword", "graph", "fused"}
    for name, scores in report["retrievers"].items():
        assert set(scores) == METRICS, name
        assert all(0.0 <= value <= 1.0 for value in scores.values())
        assert scores["recall@1"] <= scores["recall@5"] <= scores["recall@10"]
    fused = report["retrievers"]["fused"]
    assert fused["recall@10"] >= 0.6  # ~200 distractor-setting passages: the gold ones are findable
    assert report["retrievers"]["vector"] != report["retrievers"]["keyword"]
    assert (out / "report.json").is_file() and (out / "ndcg_at_10.png").read_bytes()[:4] == b"\x89PNG"

    # the fused figure is what the pipeline really retrieves: recompute recall@10 for the slice
    eval_set = load(hotpot_slice)
    settings = Settings()
    _, passage_of = write_corpus(eval_set, settings.data_dir)
    with open_test_stores(settings) as stores:
        pipeline = open_pipeline(stores, settings, ["vector", "keyword", "graph"])
        recalls = []
        for question in eval_set.questions:
            found = pipeline.retrieve(question.question, report["kb"], top_k=20)
            ranked = passage_ranking((hit.hit.source for hit in found.hits), passage_of)
            recalls.append(recall_at(ranked, question.gold, 10))
    assert sum(recalls) / len(recalls) == pytest.approx(fused["recall@10"], abs=1e-3)

    again = CliRunner().invoke(app, ["eval", str(hotpot_slice), "--json", "--limit", "5"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["questions"] == 5 and json.loads(again.stdout)["kb"] == report["kb"]


@pytest.mark.slow
def test_rag_eval_answers_from_the_retrieval_it_scored(
    hotpot_slice: Path, tmp_path: Path, smollm2: LocalChatModel, data_with_models: Path
) -> None:
    out = tmp_path / "report"
    env = {"RAG_DATA_DIR": str(data_with_models), "RAG_ANSWER_MAX_TOKENS": "40"}
    args = ["eval", str(hotpot_slice), "--answers", "--limit", "3", "--retrievers", "keyword,vector"]
    result = CliRunner().invoke(app, [*args, "--json", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["answers"]) == {"exact_match", "f1", "cites_gold", "abstained"}
    assert all(0.0 <= value <= 1.0 for value in report["answers"].values())
    assert report["settings"]["llm"] == "in-process default"
    details = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    assert len(details) == 3 and all(d["answer"]["text"] for d in details)
    for detail in details:
        # what the answer cites is among the passages scored for the question (the top 5 chunks)
        assert set(detail["answer"]["cited"]) <= set(detail["fused"]), detail
    cites_gold = [bool(set(d["answer"]["cited"]) & set(d["gold"])) for d in details]
    assert report["answers"]["cites_gold"] == pytest.approx(sum(cites_gold) / 3, abs=1e-3)


def test_rag_eval_names_a_bad_data_set(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('[{"foo": 1}]')
    result = CliRunner().invoke(app, ["eval", str(bad)])
    said = " ".join(result.output.split())  # the console wraps long lines
    assert result.exit_code == 2 and str(bad) in said and "not a layout" in said
