"""The FastAPI app: one factory, a lifespan that opens the stores and the model once, one router per surface.

    uvicorn --factory api.app:create_app      (or `rag serve`)

OpenAPI docs are at /docs. Every error is JSON (api/errors.py); Dify's route keeps Dify's error shape.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from api import conversations, dify, documents, errors, health, jobs, keys, local, openai_compat, query
from api.body_limit import BodyLimit
from api.metrics import Metrics
from api.services import open_services
from rag.config import Settings
from rag.stores.server_record import ServerRecord, remove_record, write_record

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, advertised_url: str | None = None) -> FastAPI:
    """The service over the stores `settings` name (default: the environment and rag.toml).

    `advertised_url` is where this process can be reached on this machine (`rag serve` passes it):
    while it holds embedded stores, the data folder records it with a local credential, so that the
    `rag` command of the same user sends its work here instead of failing on the lock
    (`rag.stores.server_record`)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await run_in_threadpool(open_services, settings)
        app.state.services = services
        record: ServerRecord | None = None
        try:
            # the embedding model and jieba load now, not inside the first request's deadlines
            await run_in_threadpool(services.pipeline.warm_up)
            if advertised_url and settings.uses_embedded_store:
                record = write_record(settings.data_dir, advertised_url)
                services.local_credential = record.credential
                log.info("event=server_recorded url=%s pid=%d", record.url, record.pid)
            yield
        finally:
            if record is not None:  # before the lock goes with the stores
                remove_record(settings.data_dir, record)
            await run_in_threadpool(services.close)

    app = FastAPI(
        title="rag-local",
        summary="Answers from your own documents with your own model",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.metrics = Metrics()
    errors.install(app)
    # added first, so innermost: the 413 it raises from `receive` reaches FastAPI as it is, not
    # wrapped in an exception group by the task group of the metrics middleware (a 400 then)
    app.add_middleware(BodyLimit, max_bytes=int(settings.upload_max_mb * 2**20))
    app.middleware("http")(app.state.metrics.middleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.include_router(health.router)
    app.include_router(query.router)
    app.include_router(conversations.router)
    app.include_router(openai_compat.router)
    app.include_router(documents.router)
    app.include_router(jobs.router)
    app.include_router(keys.router)
    app.include_router(local.router)
    dify.install(app, settings.dify_prefix)
    return app
