"""Build the retrievers a question asks for, over the stores that are open."""

from __future__ import annotations

from rag.common.chat import ChatModel
from rag.embed import Embedder
from rag.retrieve.base import Retriever
from rag.retrieve.graph import GraphRetriever
from rag.retrieve.keyword import KeywordRetriever
from rag.retrieve.sql import SqlRetriever
from rag.retrieve.vector import VectorRetriever
from rag.stores.factory import Stores

#: every retriever, in the order their results are shown; "sql" needs a language model
AVAILABLE = ("vector", "keyword", "graph", "sql")


def parse_names(text: str) -> list[str]:
    """ "vector, keyword" → ["vector", "keyword"]; unknown names are a usage error listing the known."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in AVAILABLE]
    if unknown:
        raise ValueError(f"unknown retriever {', '.join(unknown)}: choose from {', '.join(AVAILABLE)}")
    if not names:
        raise ValueError(f"name at least one retriever: {', '.join(AVAILABLE)}")
    return list(dict.fromkeys(names))


def open_retrievers(
    stores: Stores, embedder: Embedder, names: list[str], chat: ChatModel | None = None
) -> list[Retriever]:
    """One retriever per name (see `parse_names`); the SQL retriever writes its queries with `chat`."""
    built: list[Retriever] = []
    for name in parse_names(",".join(names)):
        if name == "vector":
            built.append(VectorRetriever(stores.vector, stores.sql, embedder, stores.collection))
        elif name == "keyword":
            built.append(KeywordRetriever(stores.sql))
        elif name == "graph":
            built.append(GraphRetriever(stores.graph, stores.sql, embedder, stores.vector))
        elif chat is None:
            raise ValueError("the sql retriever needs a language model to write its queries")
        else:
            settings = stores.settings
            built.append(
                SqlRetriever(
                    stores.sql,
                    chat,
                    timeout_s=settings.sql_timeout_s,
                    max_rows=settings.sql_max_rows,
                    max_value_bytes=round(settings.sql_max_value_mb * 1024 * 1024),
                )
            )
    return built
