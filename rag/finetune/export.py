"""An adapter in the forms the model servers load: a llama.cpp LoRA GGUF (llama.cpp, Ollama) and a
merged Transformers folder (any server, no LoRA support needed).

vLLM, LMDeploy and Xinference load PEFT's own folder; llama.cpp and Ollama need the adapter as GGUF.
llama.cpp's `convert_lora_to_gguf.py` does that, but it lives in llama.cpp's repository (not in a
package) and reads the base's Transformers config. The contract is small, so it is written here with
the `gguf` library from the adapter card alone (src/llama-adapter.cpp is what checks it):

- metadata `general.type = "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha` (f32), and
  `general.architecture` equal to the base GGUF's, or llama.cpp refuses the file;
- per adapted weight `<GGUF tensor name>.lora_a` (PEFT's lora_A, shape r × in) and `.lora_b`
  (lora_B, out × r), named as convert_hf_to_gguf.py names the base's tensors
  (`model.layers.0.self_attn.q_proj.weight` → `blk.0.attn_q.weight`);
- llama.cpp scales B·A by alpha / r, r being each pair's own rank: PEFT's scaling unless the
  adapter uses rsLoRA (alpha / √r), which is folded into B here;
- for the llama architecture convert_hf_to_gguf.py permutes the rows of q_proj and k_proj
  (`LlamaModel.permute`, by attention heads and key-value heads) so that llama.cpp's rotary
  embedding sees its own layout. A LoRA delta B·A of those weights must be permuted the same way,
  which is a permutation of B's rows; a missing one loads without an error and answers worse.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from rag.generate.adapter_card import AdapterCard, AdapterError

PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
_PEFT_PREFIX = "base_model.model."
_PAIR = re.compile(r"^(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")
#: GGUF architectures whose q/k rows convert_hf_to_gguf.py permutes (LlamaModel.modify_tensors)
_QK_PERMUTED = frozenset({"llama"})
#: the GGUF architectures this converter is checked for (names and layout as convert_hf_to_gguf.py)
_SUPPORTED = _QK_PERMUTED | {"qwen2", "qwen3"}
#: Transformers names (model_type, or the class without "ForCausalLM") with another GGUF name
_ARCH_ALIASES = {"mistral": "llama"}


def gguf_architecture(card: AdapterCard) -> str:
    """The base's GGUF architecture from the card, which may record it as GGUF names it ("llama"),
    as a Transformers model_type ("llama") or as the model class ("LlamaForCausalLM")."""
    raw = card.base.architecture.strip()
    name = raw.removesuffix("ForCausalLM").lower()
    name = _ARCH_ALIASES.get(name, name)
    if name not in _SUPPORTED:
        raise AdapterError(
            f"the adapter {card.name or '(unnamed)'} is for a {raw or 'unknown'} model; GGUF export "
            f"supports {', '.join(sorted(_SUPPORTED))} (llama.cpp's convert_lora_to_gguf.py "
            "converts others)"
        )
    return name


def read_peft(adapter_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """PEFT's config and its tensors (as float32 torch tensors), or an AdapterError naming the folder."""
    from safetensors.torch import load_file

    config_path, weights_path = adapter_dir / PEFT_CONFIG, adapter_dir / PEFT_WEIGHTS
    if not config_path.is_file() or not weights_path.is_file():
        raise AdapterError(
            f"{adapter_dir} holds no PEFT adapter ({PEFT_CONFIG} and {PEFT_WEIGHTS} from "
            "`rag finetune train`)"
        )
    try:
        config = json.loads(config_path.read_text())
        tensors = {name: tensor.float() for name, tensor in load_file(weights_path).items()}
    except (OSError, ValueError, RuntimeError) as exc:
        raise AdapterError(f"{adapter_dir} has an unreadable PEFT adapter: {exc}") from None
    if config.get("peft_type", "LORA") != "LORA" or config.get("use_dora"):
        raise AdapterError(f"{adapter_dir} is not a plain LoRA adapter (llama.cpp loads LoRA only)")
    if config.get("alpha_pattern"):
        raise AdapterError(f"{adapter_dir} sets alpha_pattern; llama.cpp has one alpha per adapter")
    return config, tensors


def lora_pairs(adapter_dir: Path, tensors: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """PEFT's tensors as {base weight name: (lora_A, lora_B)}; anything that is not a LoRA pair of a
    linear layer (trained embeddings, biases, DoRA magnitudes) is refused: llama.cpp ignores or
    rejects it, and the adapter would answer differently than it was trained."""
    pairs: dict[str, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        match = _PAIR.match(name.removeprefix(_PEFT_PREFIX))
        if not match:
            raise AdapterError(f"{adapter_dir}: {name} is not a LoRA pair of a linear layer")
        pairs.setdefault(match["module"] + ".weight", {})[match["part"]] = tensor
    for weight, parts in pairs.items():
        if set(parts) != {"A", "B"}:
            raise AdapterError(f"{adapter_dir}: {weight} has lora_A or lora_B but not both")
    if not pairs:
        raise AdapterError(f"{adapter_dir}: the adapter holds no LoRA weights")
    return {weight: (parts["A"], parts["B"]) for weight, parts in sorted(pairs.items())}


def permute_rows(lora_b: Any, heads: int) -> Any:
    """convert_hf_to_gguf.py's LlamaModel.permute applied to B's rows: within each head, the
    interleaved rotary halves (Transformers' layout) become llama.cpp's."""
    rows = lora_b.shape[0]
    if rows % (2 * heads):
        raise AdapterError(f"a q/k lora_B of {rows} rows does not split into {heads} heads")
    return (
        lora_b.reshape(heads, 2, rows // heads // 2, *lora_b.shape[1:]).swapaxes(1, 2).reshape(lora_b.shape)
    )


def write_gguf_adapter(adapter_dir: Path, out: Path | None = None) -> Path:
    """Write the adapter as a llama.cpp LoRA GGUF: `out`, else `<adapter_dir>/<name>.gguf` (its stem
    is the name a llama.cpp server selects it by), atomically. Returns the file."""
    import gguf
    import numpy as np

    card = AdapterCard.read(adapter_dir)
    arch = gguf_architecture(card)
    config, tensors = read_peft(adapter_dir)
    alpha = float(config.get("lora_alpha") or 0)
    if alpha <= 0:
        raise AdapterError(f"{adapter_dir}: lora_alpha must be positive (llama.cpp reads 0 as 'no alpha')")
    names = gguf.get_tensor_name_map(_model_arch(arch), card.base.num_hidden_layers)
    heads = {"q_proj": card.base.num_attention_heads, "k_proj": card.base.num_key_value_heads}
    out = out or adapter_dir / f"{card.name or adapter_dir.name}.gguf"
    staging = out.with_name(f".{out.name}.partial")
    writer = gguf.GGUFWriter(staging, arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    if card.name:
        writer.add_name(card.name)
    for weight, (lora_a, lora_b) in lora_pairs(adapter_dir, tensors).items():
        target = names.get_name(weight, try_suffixes=(".weight",))
        if target is None:
            raise AdapterError(f"{adapter_dir}: {weight} has no tensor in a {arch} GGUF")
        rank = lora_a.shape[0]
        if config.get("use_rslora"):
            lora_b = lora_b * math.sqrt(rank)  # PEFT: alpha / √r; llama.cpp: alpha / r
        module = weight.removesuffix(".weight").rsplit(".", 1)[-1]
        if arch in _QK_PERMUTED and module in heads:
            lora_b = permute_rows(lora_b, heads[module])
        writer.add_tensor(f"{target}.lora_a", np.ascontiguousarray(lora_a.numpy(), dtype=np.float32))
        writer.add_tensor(f"{target}.lora_b", np.ascontiguousarray(lora_b.numpy(), dtype=np.float32))
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(staging, out)
    return out


def merge_adapter(adapter_dir: Path, out_dir: Path, *, cache_dir: Path | None = None) -> Path:
    """The base with the adapter merged in (PEFT's merge_and_unload), saved as a Transformers folder
    with the base's tokenizer: for servers or tools without LoRA support. The base is the card's,
    checked against its fingerprint by the loader the in-process model uses (a GGUF base loads
    de-quantized, from `cache_dir`'s copy when `rag` made one there). Returns `out_dir`."""
    from rag.common.chat import ModelUnavailable
    from rag.generate.weights import merged_adapter, read_weights, resolve_source

    card = AdapterCard.read(adapter_dir)
    read_peft(adapter_dir)  # a clear error before minutes of loading
    try:
        source = resolve_source(card.base.path)
        model, tokenizer = read_weights(source, cache_dir)
        merged = merged_adapter(model, source, adapter_dir)
    except ModelUnavailable as exc:
        raise AdapterError(f"cannot merge {adapter_dir}: {exc}") from None
    merged.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _model_arch(name: str) -> Any:
    import gguf

    return next(arch for arch, arch_name in gguf.MODEL_ARCH_NAMES.items() if arch_name == name)
