"""The chat model the settings name: a model server when RAG_LLM_URL is set, else the in-process one."""

from __future__ import annotations

from rag.common.chat import ChatModel, ModelUnavailable
from rag.config import Settings
from rag.generate.client import ChatClient
from rag.generate.local import LocalChatModel


def open_chat_model(settings: Settings) -> ChatModel:
    """Cheap to call: nothing connects or loads until the first reply."""
    if settings.llm_url:
        if settings.llm_adapter:
            raise ModelUnavailable(
                "RAG_LLM_ADAPTER applies an adapter to the in-process model, but RAG_LLM_URL names a "
                "model server: serve the adapter there (rag finetune deploy) and set RAG_LLM_MODEL to "
                "its served name instead"
            )
        return ChatClient(
            settings.llm_url,
            settings.llm_model,
            api_key=settings.llm_api_key.get_secret_value(),
            timeout=settings.llm_timeout_s,
        )
    return LocalChatModel(
        settings.llm_model, cache_dir=settings.data_dir / "models", adapter=settings.llm_adapter
    )
