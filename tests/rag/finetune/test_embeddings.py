"""`rag finetune embeddings` end to end on a tiny KB: real MiniLM, real stores, a few real steps.

The examples.jsonl is written here by hand (the shape `rag finetune data` writes), over a KB of
invented passages, so the test needs neither a model to write questions nor the data module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ingest.factory import open_ingest_pipeline
from rag.cli.finetune_embeddings import embeddings
from rag.config import Settings
from rag.embed import EMBEDDING_CARD, model_info, open_embedder
from rag.finetune.formats import EXAMPLES
from rag.stores.vector import collection_name
from tests.builders import ingest_pipeline, open_test_stores

BASE = "all-MiniLM-L6-v2"
#: invented passages (file stem → text) and questions about each that share few words with it
PASSAGES = {
    "velmora": "Velmora is a harbour town whose fishermen dry kelp on slate roofs every autumn.",
    "quornith": "The Quornith engine burns compressed peat and powered the northern ferries until 1931.",
    "dask-ril": "Dask-Ril is a card game for four players in which the lowest hand collects the pot.",
    "ombrel": "Ombrel moss glows faintly blue and grows only in caves fed by warm springs.",
    "tavishkar": "Tavishkar was a mapmaker who charted the salt marshes using a knotted rope.",
    "prennick": "Prennick bread is baked in ash pits and flavoured with crushed juniper.",
    "hollowmere": "The Hollowmere choir sings unaccompanied hymns in a flooded quarry each midsummer.",
    "zebrine": "Zebrine glass is striped by dipping the hot bulb in iron filings twice.",
}
QUESTIONS = {
    "velmora": [
        "Where do people put seaweed on top of houses to dry it?",
        "Which port dries algae on rooftops?",
    ],
    "quornith": ["What motor ran on pressed bog fuel?", "Which machine drove the boats up north?"],
    "dask-ril": ["In which pastime does the weakest set of cards win the money?"],
    "ombrel": ["What plant gives off light underground near hot water?"],
    "tavishkar": ["Who drew charts of the wetlands with a tied cord?"],
    "prennick": ["Which loaf is cooked in cinders with a berry seasoning?"],
    "hollowmere": ["Which singers perform without instruments in a water-filled pit?"],
    "zebrine": ["How are the stripes made in a kind of blown glass?"],
}
DEV = {"hollowmere", "zebrine"}

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(embeddings)
    return app


def _invoke(env: dict[str, str], *args: str) -> Any:
    return runner.invoke(_app(), list(args), env={"COLUMNS": "400", **env})


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The KB ingested with MiniLM, and an examples.jsonl over its chunks."""
    root = tmp_path_factory.mktemp("finetune-embeddings")
    docs = root / "docs"
    docs.mkdir()
    for stem, text in PASSAGES.items():
        (docs / f"{stem}.txt").write_text(text)
    settings = Settings(data_dir=root / "data", embed_model=BASE)
    with open_test_stores(settings) as stores:
        ingest_pipeline(stores, open_embedder(stores.embedding)).run([docs], "kb")
        ids = [entry.id for entry in stores.sql.documents_in_kb("kb")]
        chunks = {
            Path(source).stem: chunk
            for chunk, source in stores.sql.chunks_by_ids(
                [c.id for page in stores.sql.iter_chunks(ids, 100) for c in page]
            ).values()
        }
    stems = list(PASSAGES)
    lines = []
    for number, (stem, questions) in enumerate(QUESTIONS.items()):
        gold = chunks[stem]
        others = [chunks[stems[(number + k) % len(stems)]] for k in (1, 2)]
        for index, question in enumerate(questions):
            sources = [{"n": 1, "chunk_id": gold.id, "document_id": gold.document_id, "gold": True}]
            sources += [
                {"n": n, "chunk_id": c.id, "document_id": c.document_id, "gold": False}
                for n, c in enumerate(others, start=2)
            ]
            lines.append(
                {
                    "id": f"{stem}-{index}",
                    "split": "dev" if stem in DEV else "train",
                    "question": question,
                    "answers": [],
                    "answerable": True,
                    "kb": "kb",
                    "gold_chunks": [gold.id],
                    "gold_documents": [gold.document_id],
                    "gold_texts": [gold.text],
                    "sources": sources,
                    "prompt": [{"role": "user", "content": question}],
                    "completion": [{"role": "assistant", "content": "…"}],
                }
            )
    data = root / "examples"
    data.mkdir()
    (data / EXAMPLES).write_text("".join(json.dumps(line) + "\n" for line in lines))
    env = {"RAG_DATA_DIR": str(settings.data_dir), "RAG_EMBED_MODEL": BASE}
    return {"root": root, "docs": docs, "data": data, "settings": settings, "env": env, "chunks": chunks}


@pytest.fixture(scope="module")
def tuned(kb: dict[str, Any]) -> Path:
    out = kb["root"] / "minilm-kb"
    options = ["--epochs", "2", "--batch-size", "4", "--learning-rate", "1e-4", "--hard-negatives", "1"]
    result = _invoke(kb["env"], "--kb", "kb", "--data", str(kb["data"]), "--out", str(out), *options)
    assert result.exit_code == 0, result.output
    assert f"base: {BASE} (the KB's model" in result.stderr
    assert "rag ingest" in result.stdout
    return out


def _train_ranking(model: Any, kb: dict[str, Any]) -> tuple[float, float]:
    """MRR of the train questions' own passages among all passages, and the mean margin of the
    gold passage's cosine over the others'."""
    stems = list(PASSAGES)
    passages = model.encode_document([kb["chunks"][s].text for s in stems], normalize_embeddings=True)
    reciprocal, margins = [], []
    for stem, questions in QUESTIONS.items():
        if stem in DEV:
            continue
        scores = model.encode_query(questions, normalize_embeddings=True) @ passages.T
        gold = stems.index(stem)
        for row in scores:
            reciprocal.append(1.0 / (1 + int((row > row[gold]).sum())))
            margins.append(row[gold] - np.delete(row, gold).mean())
    return float(np.mean(reciprocal)), float(np.mean(margins))


def test_the_saved_folder_loads_and_ranks_its_train_passages_better(kb: dict[str, Any], tuned: Path) -> None:
    from sentence_transformers import SentenceTransformer

    card = json.loads((tuned / EMBEDDING_CARD).read_text())
    assert card["kb"] == "kb" and card["base"]["name"] == BASE and card["report"]["steps"] > 0
    assert set(card["report"]["dev_before"]) >= {"recall@5", "ndcg@10"}
    before = SentenceTransformer(str(model_info(BASE).path), device="cpu")
    after = SentenceTransformer(str(tuned), device="cpu")
    assert after.get_embedding_dimension() == 384
    (mrr_before, margin_before), (mrr_after, margin_after) = (
        _train_ranking(before, kb),
        _train_ranking(after, kb),
    )
    assert mrr_after >= mrr_before
    assert margin_after > margin_before


def test_the_kb_embedded_again_with_it_goes_to_a_new_collection(kb: dict[str, Any], tuned: Path) -> None:
    base_info, tuned_info = model_info(BASE), model_info(str(tuned))
    old = collection_name(base_info.slug, base_info.dimension)
    new = collection_name(tuned_info.slug, tuned_info.dimension)
    assert old != new and tuned_info.revision in new and tuned_info.dimension == base_info.dimension
    moved = kb["settings"].model_copy(update={"embed_model": str(tuned)})
    with open_test_stores(moved) as stores:
        assert stores.vector.count("kb") == 0
        again = open_ingest_pipeline(stores).run([kb["docs"]], "kb")  # as `rag ingest` builds it
        assert (again.reembedded, again.vectors) == (len(PASSAGES), len(PASSAGES))
        assert stores.vector.count("kb") == len(PASSAGES)
    with open_test_stores(kb["settings"]) as stores:
        assert stores.vector.count("kb") == len(PASSAGES)  # the old collection is left as it was


def test_a_second_run_refuses_to_overwrite_unless_asked(kb: dict[str, Any], tuned: Path) -> None:
    result = _invoke(kb["env"], "--kb", "kb", "--data", str(kb["data"]), "--out", str(tuned))
    assert result.exit_code == 2 and "--overwrite" in result.stderr


def _record(**changed: Any) -> dict[str, Any]:
    """A whole example line, as `rag finetune data` writes one, with some fields changed."""
    record = {
        "id": "e1", "split": "train", "question": "q?", "answers": ["a"], "answerable": True, "kb": "kb",
        "gold_chunks": ["c"], "gold_documents": ["d"], "gold_texts": ["t"], "sources": [],
        "prompt": [], "completion": [],
    }  # fmt: skip
    return {**record, **changed}


@pytest.mark.fast
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "examples.jsonl: no such file"),
        ('{"kb": "kb"}\n', "examples.jsonl:1: missing answerable, answers"),
        ("\nnot json\n", "examples.jsonl:2: not JSON"),
        (json.dumps(_record(split="dev")), "examples.jsonl: no train pairs"),
        (json.dumps(_record(kb="other")), "an example of KB 'other', not of 'kb'"),
    ],
)
def test_bad_examples_fail_naming_the_file_and_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    data = tmp_path / "examples"
    data.mkdir()
    if content is not None:
        (data / EXAMPLES).write_text(content)
    env = {"RAG_DATA_DIR": str(tmp_path / "data"), "RAG_EMBED_MODEL": BASE}
    result = _invoke(env, "--kb", "kb", "--data", str(data), "--out", str(tmp_path / "model"))
    assert result.exit_code == 2
    assert message in result.stderr
