"""What every request needs, opened once per process by the app's lifespan and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from rag.config import Settings
from rag.pipeline import AnswerPipeline, open_pipeline
from rag.retrieve.factory import AVAILABLE
from rag.stores.factory import Stores, open_stores
from rag.stores.sql.keys import ApiKeys


@dataclass(slots=True)
class Services:
    settings: Settings
    stores: Stores
    pipeline: AnswerPipeline
    keys: ApiKeys

    def close(self) -> None:
        self.pipeline.chat.close()
        self.stores.close()


def open_services(settings: Settings) -> Services:
    stores = open_stores(settings)
    try:
        pipeline = open_pipeline(stores, settings, list(AVAILABLE))
    except Exception:
        stores.close()
        raise
    return Services(settings, stores, pipeline, ApiKeys(stores.sql.engine))


def services(request: Request) -> Services:
    """The dependency that hands a route the open services."""
    return request.app.state.services
