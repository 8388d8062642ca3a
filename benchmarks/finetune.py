"""The whole fine-tuning loop on this machine, timed: a knowledge base, a RAFT training set from its
questions, a LoRA run of the packaged SmolLM2, and the paired evaluation of base and adapter on the
test split (documents never trained on) and on a general set it was not trained for.

    python benchmarks/finetune.py                       # HotpotQA-100 from ../shared/datasets, 300 steps
    python benchmarks/finetune.py --steps 200 --sources 3
    python benchmarks/finetune.py --smoke               # the sample corpus, a few steps (the smoke test)

HotpotQA's own questions and answers are "the user's own questions" (`--questions`): no model writes
them, so the figures measure the training, not the 135M model's question writing. The general set
is the sample corpus (docs/samples) with questions about it, answered by both models.
Everything runs through the `rag` command, as a user would run it, in a fresh data folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOTPOTQA = REPO.parent / "shared" / "datasets" / "hotpotqa_100"
SAMPLES = REPO / "docs" / "samples"
#: questions about docs/samples: the general set (never trained on)
GENERAL = [
    ("When was Northwind Robotics founded?", "2014"),
    ("Who is the chief technology officer of Northwind Robotics?", "Tomas Berg"),
    ("How many hours a week do full-time employees work?", "38 hours"),
    ("How many days of paid annual leave does every employee receive?", "27 days"),
    ("Within how many hours must lost equipment be reported?", "24 hours"),
    ("Who heads the Munich office?", "Lena Vogt"),
    ("What does the Pallet Mover cost?", "42900.00"),
    ("How many employees work in the Rotterdam office?", "180"),
]


def rag(data_dir: Path, *args: str) -> str:
    """Run `rag` with this interpreter in the benchmark's data folder; its stdout."""
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "rag", *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"rag {' '.join(args[:2])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def write_questions(path: Path, rows: list[tuple[str, list[str]]]) -> Path:
    path.write_text("".join(json.dumps({"question": q, "answers": a}) + "\n" for q, a in rows))
    return path


def hotpotqa(work: Path, limit: int) -> tuple[Path, list[tuple[str, list[str]]]]:
    """The set's corpus as one file per passage, and its questions with their answers."""
    sys.path.insert(0, str(REPO))
    from rag.evaluate.formats import load

    eval_set = load(HOTPOTQA, "hotpotqa")
    folder = work / "hotpotqa"
    folder.mkdir(exist_ok=True)  # a kept folder is written again with the same files
    for number, passage in enumerate(eval_set.passages):
        (folder / f"{number:05d}.txt").write_text(passage.document, encoding="utf-8")
    return folder, [(q.question, q.answers) for q in eval_set.questions[:limit] if q.answers]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--limit", type=int, default=100, help="HotpotQA questions to use")
    parser.add_argument("--sources", type=int, default=3, help="Numbered sources per prompt")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--smoke", action="store_true", help="The sample corpus and a few steps")
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="rag-finetune-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    timings: dict[str, float] = {}
    general_q = write_questions(work / "general.jsonl", [(q, [a]) for q, a in GENERAL])
    started = time.perf_counter()
    rag(data, "ingest", str(SAMPLES), "--kb", "samples")
    if args.smoke:
        kb, corpus, own = "samples", None, general_q
        steps = min(args.steps, 3)
    else:
        corpus, rows = hotpotqa(work, args.limit)
        rag(data, "ingest", str(corpus), "--kb", "hotpotqa")
        kb, own, steps = "hotpotqa", write_questions(work / "own.jsonl", rows), args.steps
    timings["ingest"] = time.perf_counter() - started

    started = time.perf_counter()
    made = json.loads(
        rag(data, "finetune", "data", "--kb", kb, "--questions", str(own), "--out", str(work / "set"),
            "--sources", str(args.sources), "--test-share", "0.3", "--dev-share", "0.1", "--json")
    )  # fmt: skip
    general = json.loads(
        rag(data, "finetune", "data", "--kb", "samples", "--questions", str(general_q),
            "--out", str(work / "general"), "--sources", str(args.sources), "--json")
    )  # fmt: skip
    timings["data"] = time.perf_counter() - started

    started = time.perf_counter()
    trained = json.loads(
        rag(data, "finetune", "train", str(work / "set"), "--out", str(work / "adapter"),
            "--max-steps", str(steps), "--batch-size", str(args.batch_size), "--max-length", "768",
            "--learning-rate", str(args.learning_rate), "--json")
    )  # fmt: skip
    timings["train"] = time.perf_counter() - started

    started = time.perf_counter()
    smallest = ["--limit", "2", "--max-tokens", "16"] if args.smoke else []
    compared = json.loads(
        rag(data, "finetune", "eval", str(work / "set"), "--adapter", str(work / "adapter"),
            "--general", str(work / "general"), "--json", "--out", str(work / "comparison.json"), *smallest)
    )  # fmt: skip
    timings["eval"] = time.perf_counter() - started

    print(f"\n## Fine-tuning {trained['base']} on {kb} ({work})\n")
    print("| phase | seconds |\n|---|---|")
    for phase, seconds in timings.items():
        print(f"| {phase} | {seconds:.0f} |")
    print(f"\nexamples: {made['splits']} (without the gold: {made['unanswerable']})")
    print(f"general set: {general['examples']} examples")
    losses = trained["losses"]
    every = max(1, len(losses) // 10)
    print(f"\n### Loss curve ({trained['steps']} steps, {trained['device']})\n")
    print("| step | training loss |\n|---|---|")
    for step, loss in losses[::every] + ([losses[-1]] if losses[::every][-1:] != losses[-1:] else []):
        print(f"| {step} | {loss:.3f} |")
    if trained["dev_losses"]:
        print("\n| step | dev loss |\n|---|---|")
        for step, loss in trained["dev_losses"]:
            print(f"| {step} | {loss:.3f} |")
    for result in compared["sets"]:
        print(f"\n### {result['set']}: base against adapter (paired, 95 % bootstrap interval)\n")
        print(
            "| metric | questions | base | adapter | difference | 95 % interval |\n|---|---|---|---|---|---|"
        )
        for metric, row in result["metrics"].items():
            low, high = row["interval_95"]
            print(
                f"| {metric} | {row['questions']} | {row['base']:.3f} | {row['adapter']:.3f} | "
                f"{row['difference']:+.3f} | [{low:+.3f}, {high:+.3f}] |"
            )


if __name__ == "__main__":
    main()
