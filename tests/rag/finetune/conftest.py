"""A real LoRA adapter on the packaged SmolLM2, made with PEFT directly (no training: seconds), and
the de-quantized Transformers copy of the base it is made on."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.generate.adapter_card import AdapterCard, BaseModel, base_fingerprint
from rag.generate.local import LocalChatModel
from rag.generate.weights import PACKAGED_NAME
from tests.servers import hf_folder

#: every linear layer but the embeddings and lm_head, as `rag finetune train` adapts
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ADAPTER_NAME = "northwind"
#: lora_B's spread: large enough that greedy replies change, small enough that they stay text, so
#: two runtimes' replies can be compared token by token
B_STD = 0.08


@pytest.fixture(scope="session")
def base_folder(smollm2: LocalChatModel, model_cache: Path) -> Path:
    """The packaged GGUF de-quantized to a Transformers folder (what PEFT trains on), made once."""
    return hf_folder(smollm2, model_cache)


@pytest.fixture(scope="session")
def adapter_dir(base_folder: Path, smollm2: LocalChatModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter folder as `rag finetune train` leaves it: PEFT's files and the card, with
    seeded random A and B (B is zero at PEFT's init, which would change nothing)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_folder)
    peft_model = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGETS)
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_A" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / parameter.shape[1] ** 0.5)
            elif "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * B_STD)
    folder = tmp_path_factory.mktemp("adapter") / ADAPTER_NAME
    peft_model.save_pretrained(folder)
    config = model.config
    gguf = smollm2.source.path
    AdapterCard(
        base=BaseModel(
            path=str(gguf),
            name=PACKAGED_NAME,
            sha256=base_fingerprint(gguf),
            architecture=config.architectures[0],
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            num_key_value_heads=config.num_key_value_heads,
        ),
        lora={"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": TARGETS},
        name=ADAPTER_NAME,
    ).write(folder)
    return folder
