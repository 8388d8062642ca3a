"""LoRA supervised fine-tuning of the generator on a `rag finetune data` folder, with peft + TRL.

The loss is on the answer only (TRL's prompt–completion form), so the model learns to answer from
the sources, not to reproduce them. LoRA adapts every linear layer except the output layer, and
never the embeddings: the small models here tie the two, and an adapter on a tied matrix changes
the input side as well, which llama.cpp's and vLLM's adapter loaders do not expect. Training stops
early when the dev loss stops falling, and the adapter kept is the one with the best dev loss.

The base is a local Transformers folder or a GGUF file (de-quantized through Transformers'
`gguf_file`, from the same cached copy the in-process model uses); its fingerprint goes on the
adapter's card, so the adapter is never applied to other weights.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.finetune.formats import DataSetError, split_file
from rag.generate.adapter_card import AdapterCard, BaseModel, base_fingerprint
from rag.generate.weights import PACKAGED_NAME, ModelSource, is_packaged, read_weights, resolve_source

#: never adapted: the embeddings and the output layer (tied in the small models)
_NEVER_ADAPTED = frozenset({"embed_tokens", "lm_head", "wte", "embed_out", "output"})
_CHECKPOINTS = ".checkpoints"


class TrainingError(ValueError):
    """Training cannot run as asked; the message says which option or file and why."""


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """LoRA and optimiser settings; the defaults suit a 0.1-1B model on a few hundred examples."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    #: module names to adapt; empty: every linear layer but the output
    target_modules: tuple[str, ...] = ()
    learning_rate: float = 2e-4
    epochs: float = 2.0
    #: stop after this many optimiser steps (-1: the epochs decide)
    max_steps: int = -1
    max_length: int = 1024
    batch_size: int = 4
    gradient_accumulation: int = 1
    #: evaluate on dev (and keep the best) every this many steps; 0: ten times per run
    eval_every: int = 0
    #: evaluations without a better dev loss before stopping
    patience: int = 3
    seed: int = 0
    #: the served name (default: the output folder's name)
    name: str = ""


#: (step, steps in all, latest training loss or None)
ProgressCallback = Callable[[int, int, float | None], None]


def _base_name(base: str, source: ModelSource) -> str:
    return PACKAGED_NAME if is_packaged(base) else source.path.stem


def _target_modules(options: TrainOptions) -> str | list[str]:
    refused = sorted(set(options.target_modules) & _NEVER_ADAPTED)
    if refused:
        raise TrainingError(
            f"--target-modules names {', '.join(refused)}: the embeddings and the output layer are "
            "never adapted (the small models tie them)"
        )
    return list(options.target_modules) or "all-linear"


def _fits(tokenizer: Any, max_length: int) -> Callable[[dict[str, Any]], bool]:
    """Whether an example's prompt and answer fit `max_length` tokens: one cut short would be
    trained on a truncated answer, or on none."""

    def fits(record: dict[str, Any]) -> bool:
        conversation = record["prompt"] + record["completion"]
        return len(tokenizer.apply_chat_template(conversation, return_dict=True)["input_ids"]) <= max_length

    return fits


def train_adapter(
    data_dir: Path,
    base: str,
    out: Path,
    options: TrainOptions,
    *,
    cache_dir: Path | None = None,
    progress: ProgressCallback | None = None,
) -> AdapterCard:
    """Train, save the PEFT adapter and its card into `out`, and return the card."""
    import datasets
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import EarlyStoppingCallback, PrinterCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    datasets.disable_progress_bars()  # the caller's progress bar reports the steps

    started = time.perf_counter()
    source = resolve_source(base)
    fingerprint = base_fingerprint(source.path)
    files = {"train": split_file(data_dir, "train")}
    with contextlib.suppress(DataSetError):  # no dev split: the steps asked, no early stopping
        files["dev"] = split_file(data_dir, "dev")
    model, tokenizer = read_weights(source, cache_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    sets = {split: load_dataset("json", data_files=str(path), split="train") for split, path in files.items()}
    total = {split: len(rows) for split, rows in sets.items()}
    sets = {split: rows.filter(_fits(tokenizer, options.max_length)) for split, rows in sets.items()}
    if len(sets["train"]) == 0:
        raise TrainingError(f"no training example fits --max-length {options.max_length}: raise it")
    if "dev" in sets and len(sets["dev"]) == 0:
        del sets["dev"]
    steps_per_epoch = math.ceil(len(sets["train"]) / (options.batch_size * options.gradient_accumulation))
    steps = options.max_steps if options.max_steps > 0 else math.ceil(steps_per_epoch * options.epochs)
    every = options.eval_every or max(1, steps // 10)
    has_dev = "dev" in sets
    checkpoints = out / _CHECKPOINTS
    import torch

    on_gpu = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(checkpoints),
        max_steps=steps,
        learning_rate=options.learning_rate,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        gradient_accumulation_steps=options.gradient_accumulation,
        max_length=options.max_length,
        completion_only_loss=True,
        logging_steps=max(1, min(every, 10)),
        eval_strategy="steps" if has_dev else "no",
        eval_steps=every,
        save_strategy="steps" if has_dev else "no",
        save_steps=every,
        save_total_limit=1,
        load_best_model_at_end=has_dev,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        report_to="none",
        disable_tqdm=True,
        use_cpu=not on_gpu,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        # recomputing activations saves memory a small model does not need, at a third more time
        gradient_checkpointing=False,
        seed=options.seed,
        dataloader_pin_memory=on_gpu,
        warmup_steps=min(10, steps // 10),
    )
    losses: list[tuple[int, float]] = []
    dev_losses: list[tuple[int, float]] = []

    class Reporter(TrainerCallback):  # type: ignore[misc]
        """Collects the loss curve and reports each step."""

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **_: Any
        ) -> None:
            logs = logs or {}
            if "loss" in logs:
                losses.append((state.global_step, round(float(logs["loss"]), 4)))
            if "eval_loss" in logs:
                dev_losses.append((state.global_step, round(float(logs["eval_loss"]), 4)))

        def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            if progress:
                progress(state.global_step, steps, losses[-1][1] if losses else None)

    callbacks: list[Any] = [Reporter()]
    if has_dev:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=options.patience))
    lora = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=_target_modules(options),
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=sets["train"],
        eval_dataset=sets.get("dev"),
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log as a dict; `progress` has the loss
    trainer.train()
    out.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(str(out))
    shutil.rmtree(checkpoints, ignore_errors=True)
    adapted = sorted(trainer.model.peft_config["default"].target_modules)
    config = model.config
    card = AdapterCard(
        base=BaseModel(
            path=str(source.path.resolve()),
            name=_base_name(base, source),
            sha256=fingerprint,
            architecture=str(config.model_type),
            num_hidden_layers=int(config.num_hidden_layers),
            num_attention_heads=int(config.num_attention_heads),
            num_key_value_heads=int(getattr(config, "num_key_value_heads", config.num_attention_heads)),
        ),
        lora={
            "r": options.rank,
            "alpha": options.alpha,
            "dropout": options.dropout,
            "target_modules": adapted,
        },
        training={
            **{k: v for k, v in asdict(options).items() if k not in ("rank", "alpha", "dropout", "name")},
            "steps": trainer.state.global_step,
            "planned_steps": steps,
            "examples": {split: len(rows) for split, rows in sets.items()},
            "too_long": {split: total[split] - len(sets.get(split, [])) for split in total},
            "losses": losses,
            "dev_losses": dev_losses,
            "best_dev_loss": trainer.state.best_metric,
            "data": str(data_dir.resolve()),
            "device": "cuda" if on_gpu else "cpu",
            "seconds": round(time.perf_counter() - started, 1),
        },
        name=options.name or out.name,
    )
    card.write(out)
    return card
