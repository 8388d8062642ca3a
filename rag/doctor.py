"""`rag doctor`: check every configured part and say how to fix what is wrong."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import sqlalchemy as sa

from rag.common.chat import ModelUnavailable
from rag.common.reasons import one_line
from rag.config import Settings, mask_url
from rag.embed import EmbeddingModelError, configured_model
from rag.generate.quirks import SERVER_BY_OWNER
from rag.generate.weights import resolve_source
from rag.serving.probe import list_models
from rag.stores.errors import StoreUnavailable
from rag.stores.lock import StoreLocked
from rag.stores.sql import SqlStore
from rag.stores.sql.reader import ReaderRoleError, reader_login, reader_report


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    #: works, but less safely than it could (does not fail `rag doctor`)
    warn: bool = False


def _check_embedding(settings: Settings) -> Check:
    try:
        info = configured_model(settings)
    except EmbeddingModelError as exc:
        return Check("embedding model", False, str(exc))
    return Check("embedding model", True, f"{settings.embed_model} at {info.path} ({info.dimension} dims)")


def _check_stores(settings: Settings) -> list[Check]:
    from rag.stores.factory import open_stores

    try:
        stores = open_stores(settings, configured_model(settings))
    except (StoreUnavailable, StoreLocked, EmbeddingModelError) as exc:
        hint = " — is the server running, and is the URL right? (rag config shows it)"
        return [Check("stores", False, str(exc) + ("" if isinstance(exc, StoreLocked) else hint))]
    checks = []
    with stores:
        for name, store in (("relational", stores.sql), ("vector", stores.vector), ("graph", stores.graph)):
            try:
                store.health()
                checks.append(Check(f"{name} store", True, store.description))
            except StoreUnavailable as exc:
                checks.append(Check(f"{name} store", False, str(exc)))
        checks.append(check_sql_reader(settings, stores.sql))
        if (replica := check_sql_replica(stores.sql)) is not None:
            checks.append(replica)
    return checks


def check_sql_replica(sql: SqlStore) -> Check | None:
    """Whether RAG_SQL_REPLICA_URL's standby is replaying the primary, and how far behind; a
    standby that is down only warns: the primary answers its reads meanwhile."""
    if sql.reads is None:
        return None
    name, where = "sql replica", sql.reads.description
    lag = sql.reads.lag_bytes()
    if lag is None:
        detail = f"{where} is unreachable or not a standby of RAG_SQL_URL: the primary answers every read"
        return Check(name, True, detail, warn=True)
    detail = f"{where} replays the primary, {lag} bytes of WAL behind; retrieval reads go there"
    return Check(name, True, detail)


def check_sql_reader(settings: Settings, sql: SqlStore) -> Check:
    """As whom the SQL retriever's queries run, and whether that role could do more than read the
    KBs' tables: the guard and the read-only transaction are the first lines; a SELECT-only role
    (RAG_SQL_READER_URL) is the last, and its absence is worth a warning."""
    name = "sql retriever role"
    if sql.dialect != "postgresql":
        return Check(
            name,
            True,
            "SQLite: a query the model writes runs behind the guard on a query_only connection with a "
            "deadline and a value-length ceiling; separate roles need PostgreSQL (RAG_SQL_READER_URL)",
        )
    try:
        if settings.sql_reader_url:
            reader_login(settings.resolved_sql_url, settings.sql_reader_url)
        report = reader_report(sql.reader_engine)
    except ReaderRoleError as exc:
        return Check(name, False, str(exc))
    except sa.exc.SQLAlchemyError as exc:
        return Check(name, False, f"RAG_SQL_READER_URL cannot connect: {one_line(exc, driver=True)}")
    except StoreUnavailable as exc:  # refused at connect (a wrong password): the engine says so
        return Check(name, False, f"RAG_SQL_READER_URL cannot connect: {exc}")
    if report.unreadable_kb_schemas:
        schemas = ", ".join(report.unreadable_kb_schemas)
        return Check(name, False, f"{report.role} cannot read KB schemas {schemas}: run rag kb grant-reader")
    problems = report.problems()
    if not problems:
        return Check(
            name, True, f"queries the model writes run as {report.role}, which may only read KB tables"
        )
    fix = (
        "revoke them, or name a new role in RAG_SQL_READER_URL and run rag kb grant-reader"
        if settings.sql_reader_url
        else "set RAG_SQL_READER_URL to a SELECT-only role (rag kb grant-reader creates it)"
    )
    can = "can write" if report.can_write else "can read more than KB tables"
    return Check(
        name,
        True,
        f"queries the model writes run as {report.role}, which {can}: {'; '.join(problems)}; {fix}",
        warn=True,
    )


def _check_extractor(settings: Settings) -> Check | None:
    """Whether the spaCy pipeline is installed, without loading it; other extractors need nothing
    beyond what the other checks cover, so they get no line."""
    if settings.extractor != "spacy":
        return None
    from rag.extract.spacy_ner import pipeline_problem

    problem = pipeline_problem(settings.spacy_model)
    return Check("entity extractor", problem is None, problem or f"spaCy pipeline {settings.spacy_model}")


def check_model_server(settings: Settings, timeout_s: float = 10.0) -> Check:
    """`GET /v1/models` of the configured server: reachable, key accepted, the model name served;
    without a server, the in-process model's weights. `/readyz` runs it too, with its own short
    timeout."""
    if not settings.llm_url:
        return _check_local_model(settings)
    url = settings.llm_url.rstrip("/") + "/models"
    try:
        with httpx.Client(timeout=min(settings.llm_timeout_s, timeout_s)) as http:
            cards = list_models(http, settings.llm_url, settings.llm_api_key.get_secret_value())
        served = [card.get("id") for card in cards]
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        fix = "set RAG_LLM_API_KEY to a key it accepts" if status in (401, 403) else "is RAG_LLM_URL right?"
        return Check("model server", False, f"GET {mask_url(url)} answered HTTP {status}: {fix}")
    except (httpx.HTTPError, ValueError) as exc:
        return Check(
            "model server",
            False,
            f"GET {mask_url(url)} failed ({type(exc).__name__}); start the server or fix RAG_LLM_URL "
            "(it must end in /v1)",
        )
    if settings.llm_model and settings.llm_model not in served:
        return Check(
            "model server",
            False,
            f"serves {served}, not {settings.llm_model!r}: set RAG_LLM_MODEL to one of them "
            "(vLLM: --served-model-name)",
        )
    detail = f"{mask_url(settings.llm_url)} serves {served}"
    if any(SERVER_BY_OWNER.get(card.get("owned_by", "")) == "ollama" for card in cards):
        detail += (
            "; Ollama cuts prompts longer than its context length without an error: start it with "
            "OLLAMA_CONTEXT_LENGTH=8192 or more (deploy/ollama)"
        )
    return Check("model server", True, detail)


def _check_local_model(settings: Settings) -> Check:
    """The in-process chat model's weights are there (found, not loaded). Retrieval works without
    them: only answers need the model."""
    try:
        source = resolve_source(settings.llm_model)
    except ModelUnavailable as exc:
        return Check("chat model", False, f"{exc} (retrieval works without it; answers need it)")
    return Check("chat model", True, f"in-process model {source.path.name} (no RAG_LLM_URL)")


def run_checks(settings: Settings) -> list[Check]:
    extractor = _check_extractor(settings)
    return [
        _check_embedding(settings),
        *_check_stores(settings),
        *([extractor] if extractor else []),
        check_model_server(settings),
    ]
