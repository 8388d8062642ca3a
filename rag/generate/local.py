"""The embedded default: a small chat model run in-process by Transformers on the CPU, offline.

Which weights and how they load (the packaged SmolLM2 GGUF, de-quantized once into a cache folder) is
`weights.py`'s job; this module generates with them. Weights load on first use, once per process,
however many `LocalChatModel`s exist.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.common.chat import ModelRequestError, TemplateMessages
from rag.generate.weights import PACKAGED_NAME, LoadedWeights, is_packaged, load_weights, resolve_source


class LocalChatModel:
    """A chat model in this process, with the tokenizer's own chat template: a `ServableChatModel`.

    `source` is RAG_LLM_MODEL (empty: the packaged SmolLM2); `cache_dir` keeps de-quantized copies of
    GGUF files; `adapter` is a LoRA adapter folder (RAG_LLM_ADAPTER) merged into the weights, refused
    unless it was trained on them. Nothing loads until the first reply.
    """

    def __init__(self, source: str = "", cache_dir: Path | None = None, adapter: str = "") -> None:
        self.source = resolve_source(source)
        self.cache_dir = cache_dir
        self.adapter = Path(adapter).expanduser().resolve() if adapter else None
        base = PACKAGED_NAME if is_packaged(source) else str(self.source.path.resolve())
        # the adapter is part of the name: caches keyed by it never mix the two models' outputs
        self.name = f"{base}+{self.adapter}" if self.adapter else base

    @property
    def description(self) -> str:
        with_adapter = f" with adapter {self.adapter.name}" if self.adapter else ""
        return f"in-process model {self.source.path.name}{with_adapter} (CPU)"

    def complete(
        self,
        messages: TemplateMessages,
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_mode: bool = False,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        """`json_mode` has no effect here: there is no constrained decoding, so callers validate.
        `tools` (OpenAI function specs) go to the chat template, for models trained to call them."""
        loaded = load_weights(self.source, self.cache_dir, self.adapter)
        inputs = self._inputs(loaded, messages, max_tokens, tools)
        with loaded.lock:
            output = loaded.model.generate(**inputs, **_sampling(max_tokens, temperature))
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return loaded.tokenizer.decode(new_tokens, skip_special_tokens=True)

    def stream(
        self,
        messages: TemplateMessages,
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> Iterator[str]:
        """Pieces from a generation thread; closing the iterator stops it at the next token."""
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        loaded = load_weights(self.source, self.cache_dir, self.adapter)
        inputs = self._inputs(loaded, messages, max_tokens)
        streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop = threading.Event()
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                # The generation holds the model, not the reader: a reader that walks away without
                # closing this iterator (a server whose client hung up) would otherwise keep the
                # lock, and every later request would wait for it forever.
                with loaded.lock:
                    loaded.model.generate(
                        **inputs,
                        **_sampling(max_tokens, temperature),
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_StopWhen(stop)]),
                    )
            except Exception as exc:  # reported in the caller's thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=generate, name="local-llm", daemon=True)
        worker.start()
        try:
            yield from (piece for piece in streamer if piece)
        finally:
            stop.set()
            worker.join()
        if failure:
            raise ModelRequestError(f"{self.description} failed: {failure[0]}")

    def close(self) -> None:
        """Nothing to release: the weights stay cached for the process's other users."""

    @property
    def context_length(self) -> int:
        """Tokens of prompt plus answer the weights take (loads them)."""
        return load_weights(self.source, self.cache_dir, self.adapter).context

    def count_tokens(
        self,
        messages: TemplateMessages,
        reply: str = "",
        tools: list[dict[str, Any]] | None = None,
    ) -> tuple[int, int]:
        """Tokens of the prompt these messages make and of a reply, for a server's `usage`."""
        loaded = load_weights(self.source, self.cache_dir, self.adapter)
        # transformers 5 returns a dict (input_ids, attention_mask) by default: its len() was 2
        prompt = loaded.tokenizer.apply_chat_template(
            list(messages), tools=tools, add_generation_prompt=True, return_dict=True
        )["input_ids"]
        return len(prompt), len(loaded.tokenizer.encode(reply, add_special_tokens=False))

    def _inputs(
        self,
        loaded: LoadedWeights,
        messages: TemplateMessages,
        max_tokens: int,
        tools: list[dict[str, Any]] | None = None,
    ) -> Any:
        inputs = loaded.tokenizer.apply_chat_template(
            list(messages), tools=tools, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        length = int(inputs["input_ids"].shape[1])
        if length + max_tokens > loaded.context:
            raise ModelRequestError(
                f"prompt of {length} tokens plus {max_tokens} to generate exceeds the "
                f"{loaded.context}-token context of {self.description}"
            )
        return inputs


def _sampling(max_tokens: int, temperature: float) -> dict[str, Any]:
    """Greedy at temperature 0, so the same prompt gives the same reply (tests, caches); the unset
    sampling knobs override a model's own sampling defaults, which greedy decoding would warn about."""
    if temperature > 0:
        return {"max_new_tokens": max_tokens, "do_sample": True, "temperature": temperature}
    return {
        "max_new_tokens": max_tokens,
        "do_sample": False,
        "temperature": None,
        "top_p": None,
        "top_k": None,
    }


class _StopWhen:
    """A stopping criterion that ends generation once its event is set (the reader went away)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )
