"""`rag models bench`: the same prompts against one or several model servers, at rising concurrency.

Each level sends `requests` streamed chat completions from `concurrency` threads at once and
reports time to first token (p50/p99), decoding speed per request, total tokens per second across
all requests (what the server sustains), and errors. The seed compared Transformers with vLLM by
wall time; these figures say where each stops scaling.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from rag.common.chat import Message
from rag.common.lines import numbered_lines
from rag.common.stats import percentile
from rag.config import mask_url
from rag.generate.quirks import SERVER_BY_OWNER, request_extras
from rag.serving.probe import Timing, list_models, timed_chat

#: RAG-shaped prompts: a passage to answer from and a question about it
DEFAULT_PROMPTS = [
    "Context: Northwind Robotics was founded in 2011 in Lyon by Claire Fontaine.\n"
    "Question: When was Northwind Robotics founded?",
    "Context: The warehouse in Rotterdam ships 1,200 parcels a day; Hamburg ships 800.\n"
    "Question: Which warehouse ships more parcels, and by how many?",
    "Context: The support desk answers tickets within 4 hours on weekdays and 12 hours on weekends.\n"
    "Question: How fast are tickets answered on a Saturday?",
    "Context: Alice Moreau leads the data team at Vantor Labs, which moved to Berlin in 2020.\n"
    "Question: Where does the team Alice Moreau leads work?",
]
_SYSTEM = "Answer from the context only, in one or two sentences."


class PromptFileError(ValueError):
    """The prompts file cannot be read; the message names the file and line."""


@dataclass(slots=True)
class Target:
    """One server to benchmark: its base URL (ending in /v1), model and key."""

    url: str
    model: str = ""
    api_key: str = ""

    @property
    def label(self) -> str:
        host = httpx.URL(self.url).netloc.decode()
        return f"{self.model}@{host}" if self.model else host


@dataclass(slots=True)
class Level:
    """The figures of one target at one concurrency."""

    target: str
    concurrency: int
    requests: int
    errors: int
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    request_tokens_per_s: float | None
    total_tokens_per_s: float
    wall_s: float
    first_error: str = ""

    def as_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__slots__}  # type: ignore[attr-defined]


def read_prompts(path: Path | None) -> list[list[Message]]:
    """Prompts from a file (one per line, or JSON lines with `prompt` or `messages`), else the defaults."""
    if path is None:
        return [_as_messages(text) for text in DEFAULT_PROMPTS]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptFileError(f"{path}: cannot read prompts ({exc})") from None
    prompts: list[list[Message]] = []
    for number, line in numbered_lines(text):
        if not line.lstrip().startswith("{"):
            prompts.append(_as_messages(line.strip()))
            continue
        try:
            record = json.loads(line)
            messages = record["messages"] if "messages" in record else _as_messages(str(record["prompt"]))
        except (ValueError, KeyError, TypeError):
            raise PromptFileError(
                f"{path}:{number}: a JSON line needs a `prompt` string or a `messages` list"
            ) from None
        prompts.append(messages)
    if not prompts:
        raise PromptFileError(f"{path}: no prompts in it")
    return prompts


def _as_messages(prompt: str) -> list[Message]:
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}]


def resolve_model(target: Target, http: httpx.Client) -> tuple[str, str, str]:
    """The model to ask for (the only one served when none was named), the server's kind (for the
    quirks table) and its `owned_by` (what the rows and the plot call it)."""
    cards = list_models(http, target.url, target.api_key)
    ids = [str(card.get("id")) for card in cards]
    model = target.model or (ids[0] if len(ids) == 1 else "")
    if not model:
        raise ValueError(
            f"{mask_url(target.url)} serves {', '.join(ids) or 'nothing'}: name one with --model"
        )
    card = next((card for card in cards if card.get("id") == model), {})
    owner = str(card.get("owned_by") or "")
    return model, SERVER_BY_OWNER.get(owner, ""), owner


def run_level(
    target: Target,
    prompts: Sequence[list[Message]],
    concurrency: int,
    requests: int,
    max_tokens: int,
    timeout_s: float,
) -> Level:
    """`requests` prompts (cycled) sent by `concurrency` threads at once."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0), limits=limits) as http:
        model, server, owner = resolve_model(target, http)
        extras = request_extras(server, model)

        def one(index: int) -> Timing:
            return timed_chat(
                http,
                target.url,
                model,
                prompts[index % len(prompts)],
                max_tokens=max_tokens,
                api_key=target.api_key,
                extras=extras,
            )

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            timings = list(pool.map(one, range(requests)))
        wall = time.perf_counter() - started
    good = [t for t in timings if not t.error and t.ttft_s is not None]
    ttfts = [t.ttft_s for t in good if t.ttft_s is not None]
    speeds = [t.tokens_per_s for t in good if t.tokens_per_s > 0]
    errors = [t.error for t in timings if t.error]
    return Level(
        target=f"{model} ({owner or 'server'}) @{httpx.URL(target.url).netloc.decode()}",
        concurrency=concurrency,
        requests=requests,
        errors=len(timings) - len(good),
        ttft_p50_s=percentile(ttfts, 50) if ttfts else None,
        ttft_p99_s=percentile(ttfts, 99) if ttfts else None,
        request_tokens_per_s=statistics.median(speeds) if speeds else None,
        total_tokens_per_s=sum(t.completion_tokens for t in good) / wall if wall > 0 else 0.0,
        wall_s=wall,
        first_error=errors[0] if errors else "",
    )


def plot_levels(levels: Sequence[Level], path: Path) -> Path:
    """A PNG of total tokens/s against concurrency, one line per target."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.5))
    for target in dict.fromkeys(level.target for level in levels):
        points = sorted((lv.concurrency, lv.total_tokens_per_s) for lv in levels if lv.target == target)
        axes.plot([x for x, _ in points], [y for _, y in points], marker="o", label=target)
    axes.set_xscale("log", base=2)
    levels_run = sorted({level.concurrency for level in levels})
    axes.set_xticks(levels_run, [str(c) for c in levels_run])
    axes.set_xlabel("concurrent requests")
    axes.set_ylabel("tokens/s, all requests")
    axes.set_title("Model server throughput")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path
