"""Build a conversation set (`conversations.py`) from a public set, by rule: no question is written
by hand and no model writes any.

    python -m rag.evaluate.build_conversations ../shared/datasets/hotpotqa_100 eval-dialog/hotpotqa
    python -m rag.evaluate.build_conversations ../shared/datasets/cmrc2018_trial eval-dialog/cmrc

HotpotQA (records with `supporting_facts` and `context`, a title → sentences corpus beside them),
one conversation per question, of the first shape that fits it:

- `pair`: the question names both supporting entities as "X and Y" after an auxiliary or a
  preposition ("Are X and Y both film directors?"): "Who is X?", then "What about Y?" (standalone
  "Who is Y?"), then the question with they/them for the pair.
- `pronoun`: the question names a supporting entity T where a pronoun can stand: "Who is T?" (or
  "What is T?", by `referring.english_pronoun`), then the question with T as he/she/it/they.
- `single`: the question alone.

The first turn about an entity is judged on retrieval and citations only (HotpotQA gives no
answer to "Who is T?"); the last turn keeps the question's answer. The corpus is the chosen
questions' context paragraphs: their supporting passages and HotpotQA's distractors for them.

CMRC 2018 (the trial layout: passages with a title and questions): two questions about a passage
that both name its subject (`referring.chinese_pair`), the second with the mention as 他/她/它;
passages where no two questions do are left out. The corpus is every passage.

Unanswerable questions: about a quarter of the turns (`--unanswerable`) come from conversations
held out by removing their gold passages from the corpus written, so that neither their first
turn nor their follow-ups can be answered from it. A conversation is held out only when none of
its gold passages is gold for a kept one; they are taken in the order of a hash of their ids, so
the choice is fixed and spread over the set. Two kinds (`--unanswerable-kind`), recorded in each
unanswerable turn, since abstaining is much harder on the first:

- `near-miss` (the default): HotpotQA's distractors stay, paragraphs picked by TF-IDF to resemble
  the question, so the KB holds passages on its topic that do not answer it.
- `off-topic`: a held-out HotpotQA conversation also loses its distractors, wherever no kept
  question's context holds them: the KB does not cover its topic. The same conversations are
  held out under both kinds, so the two sets differ only in the corpus.

CMRC's corpus is every passage, one per subject, so removing a subject's passage already leaves
its questions off-topic whichever kind is asked. The output depends only on the input files and
the options.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.evaluate.conversations import (
    NEAR_MISS,
    OFF_TOPIC,
    UNANSWERABLE_KINDS,
    Conversation,
    ConversationSet,
    EvalTurn,
    write_conversation_set,
)
from rag.evaluate.dataset import DatasetError, Passage, read_json
from rag.evaluate.formats import detect
from rag.evaluate.referring import (
    chinese_pair,
    chinese_pronoun,
    chinese_refer_back,
    display_name,
    english_definition,
    english_pronoun,
    mentions,
    refer_back,
    refer_to_pair,
)

#: conversations per set unless told: a few minutes on two CPU cores, answers included
DEFAULT_LIMIT = 60
DEFAULT_UNANSWERABLE = 0.25


@dataclass(frozen=True, slots=True)
class Candidate:
    """A conversation before any is held out, and the passages it brings into the corpus."""

    conversation: Conversation
    context: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    passages: dict[str, Passage]
    candidates: list[Candidate]
    #: the corpus is every passage (CMRC) rather than the chosen candidates' contexts (HotpotQA)
    whole_corpus: bool


def build(
    source: Source,
    *,
    limit: int = DEFAULT_LIMIT,
    unanswerable: float = DEFAULT_UNANSWERABLE,
    kind: str = NEAR_MISS,
) -> ConversationSet:
    """The first `limit` candidates (0: all), some held out as unanswerable (`hold_out`), and the
    corpus they need without the held-out conversations' gold passages (and, `off-topic`, without
    their contexts' passages that no kept conversation's context holds)."""
    if kind not in UNANSWERABLE_KINDS:
        raise DatasetError(f"unanswerable kind {kind!r}: expected {' or '.join(UNANSWERABLE_KINDS)}")
    chosen = source.candidates[:limit] if limit else source.candidates
    held = hold_out([c.conversation for c in chosen], unanswerable)
    removed = {pid for c in chosen if c.conversation.id in held for pid in _gold(c.conversation)}
    if kind == OFF_TOPIC:
        kept = {pid for c in chosen if c.conversation.id not in held for pid in c.context}
        removed |= {pid for c in chosen if c.conversation.id in held for pid in c.context} - kept
    if source.whole_corpus:
        ids = list(source.passages)
        kind = OFF_TOPIC  # each subject has one passage: without it nothing is on the topic
    else:
        ids = list(dict.fromkeys(pid for c in chosen for pid in c.context))
    passages = [source.passages[pid] for pid in ids if pid not in removed]
    conversations = [
        _unanswerable(c.conversation, kind) if c.conversation.id in held else c.conversation for c in chosen
    ]
    return ConversationSet(source.name, passages, conversations)


def hold_out(conversations: Sequence[Conversation], share: float) -> set[str]:
    """Ids of conversations to make unanswerable, until `share` of all turns are: in the order of
    their ids' hashes, each only if its gold passages are gold for no conversation kept."""
    target = share * sum(len(c.turns) for c in conversations)
    golds = {c.id: _gold(c) for c in conversations}
    held: set[str] = set()
    count = 0
    for conversation in sorted(conversations, key=lambda c: hashlib.sha256(c.id.encode()).hexdigest()):
        if count >= target:
            break
        others = (golds[c.id] for c in conversations if c.id not in held and c.id != conversation.id)
        if any(golds[conversation.id] & gold for gold in others):
            continue
        held.add(conversation.id)
        count += len(conversation.turns)
    return held


def _gold(conversation: Conversation) -> set[str]:
    return {pid for turn in conversation.turns for pid in turn.gold}


def _unanswerable(conversation: Conversation, kind: str) -> Conversation:
    turns = [
        replace(t, gold={}, answerable=False, held_out=sorted(t.gold), unanswerable_kind=kind)
        for t in conversation.turns
    ]
    return replace(conversation, turns=turns)


# ----------------------------------------------------------------------------------------- HotpotQA
def read_hotpotqa(folder: Path) -> Source:
    """Candidates from every question file in `folder`, in file order; sentences from the corpus
    file beside them (title → sentences) or from the records' contexts."""
    files = sorted(f for f in folder.glob("*.json") if "corpus" not in f.stem.lower())
    records = [record for file in files for record in _list(read_json(file), file)]
    sentences: dict[str, list[str]] = {}
    for corpus in sorted(folder.glob("*corpus*.json")):
        data = read_json(corpus)
        if isinstance(data, dict):
            sentences.update(
                {str(t): [str(s) for s in body] for t, body in data.items() if isinstance(body, list)}
            )
    for n, record in enumerate(records):
        try:
            for title, body in record.get("context", []):
                sentences.setdefault(str(title), [str(s) for s in body])
        except (TypeError, ValueError):
            qid = record.get("_id", n)
            raise DatasetError(
                f"{folder}: question {qid}: `context` must be [title, sentences] pairs"
            ) from None
    passages = {title: Passage(title, title, "".join(body)) for title, body in sentences.items()}
    candidates = []
    for n, record in enumerate(records):
        qid = str(record.get("_id", n))
        try:
            candidates.append(_hotpotqa_candidate(qid, record, sentences))
        except KeyError as exc:
            raise DatasetError(f"{folder}: question {qid}: missing field {exc}") from None
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"{folder}: question {qid}: {exc}") from None
    return Source(folder.name, passages, candidates, whole_corpus=False)


def _hotpotqa_candidate(qid: str, record: dict[str, Any], sentences: dict[str, list[str]]) -> Candidate:
    question = " ".join(str(record["question"]).split())
    titles = list(dict.fromkeys(str(title) for title, _ in record["supporting_facts"]))
    if missing := [t for t in titles if t not in sentences]:
        raise ValueError(f"supporting passages missing from the corpus: {missing}")
    gold = dict.fromkeys(titles, 1)
    answers = [str(record["answer"])] if record.get("answer") else []
    context = tuple(str(title) for title, _ in record.get("context", [])) or tuple(titles)
    last = EvalTurn(question, question, gold, answers)
    spans = _mention_spans(question, titles)
    named = sorted((t for t in titles if spans[t]), key=lambda t: spans[t][0])
    if len(named) == 2:
        (x, y), (first, second) = (spans[named[0]][0], spans[named[1]][0]), named
        together = refer_to_pair(question, (x[0], y[1])) if question[x[1] : y[0]] == " and " else None
        if together is not None:
            turns = [
                _definition(first, sentences[first]),
                replace(
                    _definition(second, sentences[second]), question=f"What about {display_name(second)}?"
                ),
                replace(last, question=together),
            ]
            return Candidate(Conversation(f"hotpotqa-{qid}", turns, "pair"), context)
    for title in named:
        pronoun = english_pronoun(display_name(title), sentences[title])
        follow_up = refer_back(question, display_name(title), pronoun, spans=spans[title])
        if follow_up is not None:
            turns = [_definition(title, sentences[title]), replace(last, question=follow_up)]
            return Candidate(Conversation(f"hotpotqa-{qid}", turns, "pronoun"), context)
    return Candidate(Conversation(f"hotpotqa-{qid}", [last], "single"), context)


def _mention_spans(question: str, titles: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Where the question names each title, leaving out mentions inside a longer title's mention
    ("Darkon" inside "the Darkon Wargaming Club")."""
    found = {title: mentions(question, display_name(title)) for title in titles}
    longer = [span for spans in found.values() for span in spans]
    return {
        title: [
            (start, end)
            for start, end in spans
            if not any(a <= start and end <= b and b - a > end - start for a, b in longer)
        ]
        for title, spans in found.items()
    }


def _definition(title: str, sentences: list[str]) -> EvalTurn:
    name = display_name(title)
    question = english_definition(name, sentences[0], english_pronoun(name, sentences))
    return EvalTurn(question, question, {title: 1})


# ------------------------------------------------------------------------------------- CMRC 2018
def read_cmrc(folder: Path) -> Source:
    """One candidate per passage where two questions name its subject, in file order."""
    files = sorted(f for f in folder.glob("*.json") if "corpus" not in f.stem.lower())
    passages: dict[str, Passage] = {}
    candidates = []
    for file in files:
        for record in _list(read_json(file), file):
            if "context_text" not in record:
                raise DatasetError(f"{file}: not CMRC 2018's trial layout (no `context_text`)")
            pid, title = str(record["context_id"]), str(record.get("title", ""))
            passages[pid] = Passage(pid, title, str(record["context_text"]))
            questions = [" ".join(str(qa["query_text"]).split()) for qa in record.get("qas", [])]
            pair = chinese_pair(display_name(title), questions) if title else None
            if pair is None:
                continue
            first, second, mention = pair
            answers = [[str(a) for a in qa.get("answers", [])] for qa in record["qas"]]
            pronoun = chinese_pronoun(display_name(title), passages[pid].text)
            turns = [
                EvalTurn(questions[first], questions[first], {pid: 1}, answers[first]),
                EvalTurn(
                    chinese_refer_back(questions[second], mention, pronoun),
                    questions[second],
                    {pid: 1},
                    answers[second],
                ),
            ]
            candidates.append(Candidate(Conversation(f"cmrc-{pid}", turns, "pronoun")))
    return Source(folder.name, passages, candidates, whole_corpus=True)


def _list(data: Any, path: Path) -> list[dict[str, Any]]:
    records = data.get("data", data) if isinstance(data, dict) else data
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DatasetError(f"{path}: expected a list of records")
    return records


def read_source(folder: Path) -> Source:
    """The builder for the folder's layout: HotpotQA or CMRC 2018's trial set."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    layout = detect(folder)
    if layout == "hotpotqa":
        return read_hotpotqa(folder)
    if layout == "squad":
        return read_cmrc(folder)
    raise DatasetError(f"{folder}: conversations are built from HotpotQA or CMRC 2018, not {layout}")


def summary(conversation_set: ConversationSet) -> dict[str, dict[str, int]]:
    """Per shape (and in all): conversations, turns, follow-up turns and unanswerable turns."""
    counts: dict[str, Counter[str]] = {}
    for conversation in conversation_set.conversations:
        for shape in (conversation.shape or "-", "all"):
            row = counts.setdefault(shape, Counter())
            row["conversations"] += 1
            row["turns"] += len(conversation.turns)
            row["follow-ups"] += sum(turn.follow_up for turn in conversation.turns)
            row["unanswerable"] += sum(not turn.answerable for turn in conversation.turns)
    return {shape: dict(row) for shape, row in counts.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag.evaluate.build_conversations", description=__doc__.split("\n")[0]
    )
    parser.add_argument("source", type=Path, help="a HotpotQA or CMRC 2018 trial folder")
    parser.add_argument(
        "out", type=Path, help="the folder to write (corpus.jsonl, conversations.jsonl, questions.jsonl)"
    )
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="conversations at most (0: all)")
    parser.add_argument(
        "--unanswerable", type=float, default=DEFAULT_UNANSWERABLE, help="share of turns to hold out"
    )
    parser.add_argument(
        "--unanswerable-kind",
        choices=UNANSWERABLE_KINDS,
        default=NEAR_MISS,
        help="HotpotQA: keep the held-out questions' distractors (near-miss) or remove them too (off-topic)",
    )
    args = parser.parse_args(argv)
    try:
        source = read_source(args.source)
        built = build(source, limit=args.limit, unanswerable=args.unanswerable, kind=args.unanswerable_kind)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_conversation_set(built, args.out)
    rows = summary(built)
    print(f"{'shape':<10} {'conversations':>13} {'turns':>6} {'follow-ups':>10} {'unanswerable':>12}")
    for shape in [*sorted(set(rows) - {"all"}), "all"]:
        row = rows[shape]
        counts = (
            f"{row['conversations']:>13} {row['turns']:>6} {row['follow-ups']:>10} {row['unanswerable']:>12}"
        )
        print(f"{shape:<10} {counts}")
    kinds = sorted({t.unanswerable_kind for t in built.turns if not t.answerable})
    print(f"wrote {args.out} ({len(built.passages)} passages; unanswerable: {', '.join(kinds) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
