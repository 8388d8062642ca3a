"""How to serve an adapter on each model server: the deploy/ script, the variables it needs, the
files it loads (a GGUF adapter, an Ollama Modelfile, written here first) and the model name the
service then asks for.

Each server takes adapters its own way (deploy/*/README.md, "A fine-tuned adapter"): vLLM, LMDeploy
and Xinference load PEFT's folder on a Transformers base; llama.cpp and Ollama a LoRA GGUF on the
GGUF base. The base is checked against the adapter card's fingerprint before anything is printed,
because an adapter on other weights loads without an error and answers worse.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from rag.finetune.export import PEFT_CONFIG, write_gguf_adapter
from rag.generate.adapter_card import AdapterCard, AdapterError

SERVERS = ("vllm", "lmdeploy", "xinference", "llamacpp", "ollama")
#: the deploy/ folder of the repository (the scripts are not part of the installed package)
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_GGUF_SERVERS = frozenset({"llamacpp", "ollama"})
_DEFAULT_MAX_LORA_RANK = 16


@dataclass(slots=True)
class Launch:
    """One server's launch of an adapter."""

    server: str
    script: Path
    #: the deploy script's variables (the rest come from its env file)
    env: dict[str, str]
    #: what to set RAG_LLM_MODEL to; "" when the service cannot select the adapter on this server
    served_name: str
    #: files written for the server (the GGUF adapter, a Modelfile)
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def command_line(self) -> str:
        """The line to run, the variables in front of the script."""
        assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in self.env.items())
        return f"{assignments} {shlex.quote(str(self.script))}"


def plan(
    adapter_dir: Path, server: str, *, base: Path | None = None, name: str = "", cache_dir: Path
) -> Launch:
    """The launch of `adapter_dir` on `server` over `base` (default: the card's), files written; an
    AdapterError when the base is not the one the adapter was trained on or the server cannot load it."""
    if server not in SERVERS:
        raise AdapterError(f"unknown server {server!r}: choose one of {', '.join(SERVERS)}")
    card = AdapterCard.read(adapter_dir)
    name = name or card.name or adapter_dir.name
    weights = (base or Path(card.base.path)).expanduser().resolve()
    if server in _GGUF_SERVERS:
        if weights.suffix.lower() != ".gguf" or not weights.is_file():
            raise AdapterError(f"{server} serves a GGUF base: pass --base FILE.gguf (not {weights})")
        card.check_base(weights)
        adapter = write_gguf_adapter(adapter_dir, adapter_dir / f"{name}.gguf")
        return _gguf_launch(server, weights, adapter, name)
    folder = _transformers_base(card, weights, cache_dir)
    peft_dir = str(adapter_dir.resolve())
    if server == "vllm":
        rank = max(_DEFAULT_MAX_LORA_RANK, _rank(adapter_dir))
        env = {"VLLM_MODEL": str(folder), "VLLM_LORA_MODULES": f"{name}={peft_dir}"}
        env["VLLM_MAX_LORA_RANK"] = str(rank)
        return Launch(server, DEPLOY / "vllm" / "launch.sh", env, name)
    if server == "lmdeploy":
        env = {"LMDEPLOY_MODEL": str(folder), "LMDEPLOY_ADAPTERS": f"{name}={peft_dir}"}
        return Launch(server, DEPLOY / "lmdeploy" / "launch.sh", env, name)
    note = (
        f"Xinference applies the adapter only to requests that name it in `lora_name`, which the "
        f"service does not send; its base must be the model XINFERENCE_MODEL_NAME launches ({folder})"
    )
    env = {"XINFERENCE_LORA_MODULES": f"{name}={peft_dir}"}
    return Launch(server, DEPLOY / "xinference" / "launch-model.sh", env, "", notes=[note])


def _gguf_launch(server: str, weights: Path, adapter: Path, name: str) -> Launch:
    if server == "llamacpp":
        env = {"LLAMACPP_MODEL": str(weights), "LLAMACPP_LORA": str(adapter)}
        note = "the adapter loads at scale 0; the service applies it to requests for its name"
        return Launch(server, DEPLOY / "llamacpp" / "launch.sh", env, name, [adapter], [note])
    modelfile = adapter.parent / "Modelfile"
    modelfile.write_text(
        f"# {name}: the base GGUF with the LoRA adapter, as `rag finetune deploy` wrote it\n"
        f"FROM {weights}\nADAPTER {adapter}\nPARAMETER num_ctx 8192\nPARAMETER temperature 0\n"
    )
    env = {"OLLAMA_MODELFILE": str(modelfile), "OLLAMA_RAG_MODEL": name}
    note = "needs a running Ollama (deploy/ollama/launch.sh); this builds the model in it"
    return Launch(server, DEPLOY / "ollama" / "create-model.sh", env, name, [adapter, modelfile], [note])


def _transformers_base(card: AdapterCard, weights: Path, cache_dir: Path) -> Path:
    """The Transformers folder vLLM, LMDeploy and Xinference load, checked against the card: the
    folder itself, or for a GGUF base its de-quantized copy (made into `cache_dir` when missing)."""
    from rag.generate.weights import ModelSource, converted_folder, load_weights

    card_base = Path(card.base.path)
    if weights.is_file() and weights.suffix.lower() == ".gguf":
        card.check_base(weights)
        source = ModelSource(weights.parent, weights.name)
        folder = converted_folder(source, cache_dir)
        if not (folder / "config.json").is_file():
            load_weights(source, cache_dir)  # de-quantizes and saves the copy
        return folder
    if card_base.suffix.lower() == ".gguf" and card_base.is_file():
        copy = converted_folder(ModelSource(card_base.parent, card_base.name), cache_dir)
        if weights == copy.resolve():
            card.check_base(card_base)  # the copy of the very file the adapter was trained on
            return weights
    card.check_base(weights)
    return weights


def _rank(adapter_dir: Path) -> int:
    """The adapter's largest LoRA rank (vLLM's --max-lora-rank must be at least that)."""
    try:
        config = json.loads((adapter_dir / PEFT_CONFIG).read_text())
    except (OSError, ValueError):
        raise AdapterError(f"{adapter_dir} holds no readable {PEFT_CONFIG}") from None
    ranks = [int(config.get("r") or 0), *(int(r) for r in (config.get("rank_pattern") or {}).values())]
    return max(ranks)
