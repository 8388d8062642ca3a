"""The adapter exported for llama.cpp is the adapter PEFT trained: real llama.cpp (deploy/llamacpp's
xllamacpp profile) serving the packaged Q4_1 GGUF with the exported LoRA answers with the
probabilities Transformers + PEFT give, and one export with the q/k permutation left out does not
(so the comparison would catch a wrong permutation or name). The same server shows the client
picking the adapter per request by its file stem, and the merged folder answers like PEFT."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.finetune.export import PEFT_WEIGHTS, merge_adapter, write_gguf_adapter
from rag.generate.adapter_card import CARD_FILE, AdapterCard, AdapterError
from rag.generate.client import ChatClient
from rag.generate.local import LocalChatModel
from tests.server_envs import EnvUnavailable, xllamacpp_python
from tests.servers import free_port, llama_cpp_env, running_server

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
PROMPTS = ["The capital of France is", "Once upon a time, in a small village,", "def fibonacci(n):"]
STEPS = 8
TOP = 5
#: the largest gap between llama.cpp's and Transformers' probability of a top token that still
#: counts as the same model: Q4_1 matmuls on 8-bit activations against float32 ones (measured: base
#: ≤ 0.06, adapter ≤ 0.07; the adapter with q/k unpermuted 0.21)
SAME_MODEL = 0.12


def test_the_gguf_adapter_has_llama_cpps_metadata_names_and_shapes(adapter_dir: Path) -> None:
    import gguf

    path = write_gguf_adapter(adapter_dir)
    assert path == adapter_dir / "northwind.gguf"
    reader = gguf.GGUFReader(path)
    fields = {name: reader.fields[name].contents() for name in ("general.type", "adapter.type")}
    assert fields == {"general.type": "adapter", "adapter.type": "lora"}
    assert reader.fields["general.architecture"].contents() == "llama"
    assert reader.fields["adapter.lora.alpha"].contents() == pytest.approx(16.0)
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}  # ggml order: (in, out)
    assert len(shapes) == 30 * 7 * 2
    assert shapes["blk.0.attn_q.weight.lora_a"] == (576, 8) and shapes["blk.0.attn_q.weight.lora_b"] == (
        8,
        576,
    )
    assert shapes["blk.29.attn_k.weight.lora_b"] == (8, 192) and shapes["blk.3.ffn_down.weight.lora_a"] == (
        1536,
        8,
    )


def test_a_folder_without_an_adapter_is_named(tmp_path: Path, adapter_dir: Path) -> None:
    with pytest.raises(AdapterError, match=re.escape(f"{tmp_path} is not an adapter")):
        write_gguf_adapter(tmp_path)
    (tmp_path / CARD_FILE).write_text((adapter_dir / CARD_FILE).read_text())
    with pytest.raises(AdapterError, match=re.escape(f"{tmp_path} holds no PEFT adapter")):
        write_gguf_adapter(tmp_path)


def test_an_architecture_the_export_does_not_know_is_refused(tmp_path: Path, adapter_dir: Path) -> None:
    card = json.loads((adapter_dir / CARD_FILE).read_text())
    card["base"]["architecture"] = "MambaForCausalLM"
    (tmp_path / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(AdapterError, match="MambaForCausalLM model; GGUF export supports llama"):
        write_gguf_adapter(tmp_path)


def unpermuted_copy(right: Path, adapter_dir: Path, out: Path) -> Path:
    """The exported file with q/k's lora_B as PEFT saved them: the mistake the permutation prevents."""
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    peft = load_file(adapter_dir / PEFT_WEIGHTS)
    reader = gguf.GGUFReader(right)
    writer = gguf.GGUFWriter(out, "llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 16.0)
    for tensor in reader.tensors:
        data = np.array(tensor.data)
        if match := re.fullmatch(r"blk\.(\d+)\.attn_([qk])\.weight\.lora_b", tensor.name):
            key = f"base_model.model.model.layers.{match[1]}.self_attn.{match[2]}_proj.lora_B.weight"
            data = peft[key].float().numpy()
        writer.add_tensor(tensor.name, np.ascontiguousarray(data, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


@pytest.fixture(scope="module")
def lora_server(
    adapter_dir: Path, smollm2: LocalChatModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """llama.cpp over the packaged GGUF as `smollm2`, with the exported adapter (id 0) and the
    unpermuted copy (id 1) loaded at scale 0, as deploy/llamacpp/launch.sh starts it for LLAMACPP_LORA."""
    try:
        python = str(xllamacpp_python())
    except EnvUnavailable as exc:
        pytest.skip(f"llama.cpp's server cannot run here: {exc}")
    right = write_gguf_adapter(adapter_dir)
    wrong = unpermuted_copy(right, adapter_dir, tmp_path_factory.mktemp("wrong") / "unpermuted.gguf")
    port = free_port()
    env = llama_cpp_env(
        python,
        smollm2.source.path,
        "smollm2",
        port,
        LLAMACPP_CTX_SIZE="2048",
        LLAMACPP_LORA=f"{right},{wrong}",
    )
    command = ["bash", str(DEPLOY / "llamacpp" / "launch.sh"), "--", "--parallel", "1"]
    log = tmp_path_factory.mktemp("llamacpp-lora") / "server.log"
    with running_server(command, env, f"http://127.0.0.1:{port}/v1", log, 300) as url:
        yield url


def llama_cpp_greedy(url: str, ids: list[int], lora: list[dict[str, Any]] | None) -> dict[str, Any]:
    """llama.cpp's greedy continuation of token ids, with the top log-probabilities at each step."""
    body: dict[str, Any] = {"prompt": ids, "n_predict": STEPS, "temperature": 0, "n_probs": TOP}
    body |= {"return_tokens": True, "cache_prompt": False}
    if lora is not None:
        body["lora"] = lora
    reply = httpx.post(url.removesuffix("/v1") + "/completion", json=body, timeout=120)
    reply.raise_for_status()
    return reply.json()


def gap(reply: dict[str, Any], logprobs: Any) -> tuple[float, int]:
    """The largest probability gap over llama.cpp's top tokens at each step, and at how many steps
    Transformers' own greedy choice is llama.cpp's."""
    tokens = reply["tokens"]
    steps = reply["completion_probabilities"]
    widest = max(
        abs(math.exp(top["logprob"]) - math.exp(logprobs[i, top["id"]].item()))
        for i, step in enumerate(steps)
        for top in step["top_logprobs"]
    )
    return widest, sum(int(logprobs[i].argmax().item() == token) for i, token in enumerate(tokens))


@pytest.mark.slow
def test_llama_cpp_answers_with_the_adapter_as_peft_does(
    lora_server: str, adapter_dir: Path, base_folder: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_folder)
    peft_model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_folder), adapter_dir
    ).eval()

    def transformers_logprobs(ids: list[int], tokens: list[int], adapter: bool) -> Any:
        with torch.no_grad():
            inputs = torch.tensor([ids + tokens])
            if adapter:
                logits = peft_model(inputs).logits[0]
            else:
                with peft_model.disable_adapter():
                    logits = peft_model(inputs).logits[0]
        return torch.log_softmax(logits[len(ids) - 1 : len(ids) - 1 + len(tokens)], -1)

    report = []
    for prompt in PROMPTS:
        ids = tokenizer(prompt).input_ids
        base = llama_cpp_greedy(lora_server, ids, None)  # loaded at scale 0: the base alone
        adapted = llama_cpp_greedy(lora_server, ids, [{"id": 0, "scale": 1.0}])
        unpermuted = llama_cpp_greedy(lora_server, ids, [{"id": 1, "scale": 1.0}])
        base_gap, base_agree = gap(base, transformers_logprobs(ids, base["tokens"], adapter=False))
        lora_gap, lora_agree = gap(adapted, transformers_logprobs(ids, adapted["tokens"], adapter=True))
        wrong_gap, _ = gap(unpermuted, transformers_logprobs(ids, unpermuted["tokens"], adapter=True))
        report.append((prompt, base_gap, base_agree, lora_gap, lora_agree, wrong_gap))
        assert adapted["tokens"] != base["tokens"], f"the adapter changed nothing for {prompt!r}"
    summary = "\n".join(
        f"{p!r}: base gap {bg:.3f} agree {ba}/{STEPS}; adapter gap {lg:.3f} agree {la}/{STEPS}; "
        f"unpermuted gap {wg:.3f}"
        for p, bg, ba, lg, la, wg in report
    )
    assert all(bg < SAME_MODEL and lg < SAME_MODEL for _, bg, _, lg, _, _ in report), summary
    assert sum(la for *_, la, _ in report) >= len(PROMPTS) * STEPS - 2, summary
    assert max(wg for *_, wg in report) > SAME_MODEL, f"the comparison cannot tell a wrong export:\n{summary}"


def test_the_client_selects_the_adapter_by_its_file_stem(lora_server: str) -> None:
    """RAG_LLM_MODEL=northwind on the llama.cpp server: the client finds it in /lora-adapters and
    sends `lora`; the base's own name gets the base.

    Each reply compared is decoded from a fresh prompt: llama.cpp reuses a cached prompt, whose
    last token it then decodes alone, with numerics that can turn a greedy reply, but it drops the
    cache when the adapters change, and `cache_prompt: false` skips it."""
    messages = [{"role": "user", "content": "Name a colour."}]

    def direct(lora: list[dict[str, Any]]) -> str:
        body = {"model": "smollm2", "messages": messages, "max_tokens": 12, "temperature": 0}
        body |= {"lora": lora, "cache_prompt": False}
        reply = httpx.post(f"{lora_server}/chat/completions", json=body, timeout=120)
        return str(reply.json()["choices"][0]["message"]["content"])

    adapter = ChatClient(lora_server, "northwind", timeout=120)
    base = ChatClient(lora_server, "smollm2", timeout=120)
    try:
        assert adapter.server == "llamacpp"
        base_reply = direct([])
        with_adapter = adapter.complete(messages, max_tokens=12)  # the adapters changed: fresh
        assert with_adapter == direct([{"id": 0, "scale": 1.0}])
        assert base.complete(messages, max_tokens=12) == base_reply  # changed back: fresh
        assert with_adapter != base_reply
    finally:
        adapter.close()
        base.close()


@pytest.mark.slow
def test_the_merged_folder_answers_as_the_adapter(
    adapter_dir: Path, base_folder: Path, model_cache: Path, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged_dir = merge_adapter(adapter_dir, tmp_path / "merged", cache_dir=model_cache)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    peft_model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_folder), adapter_dir
    ).eval()
    ids = AutoTokenizer.from_pretrained(merged_dir)(PROMPTS[0], return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, peft_model(ids).logits, atol=1e-3)
    assert not (merged_dir / CARD_FILE).exists()  # a plain model now, not an adapter


def test_merging_refuses_a_base_that_changed(adapter_dir: Path, tmp_path: Path) -> None:
    card = AdapterCard.read(adapter_dir)
    card.base.sha256 = "0" * 64
    folder = tmp_path / "stale"
    card.write(folder)
    for name in ("adapter_config.json", PEFT_WEIGHTS):
        (folder / name).write_bytes((adapter_dir / name).read_bytes())
    with pytest.raises(AdapterError, match="was trained on SmolLM2-135M-Instruct"):
        merge_adapter(folder, tmp_path / "merged")
