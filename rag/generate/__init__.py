"""Generation: one `ChatModel` interface (`base.py`) over model servers (`client.py`) and the
in-process model (`local.py`); `factory.py` picks one from the settings, `prompts.py` holds the
prompts. Only the interface is imported here: the backends pull in httpx or torch on demand."""

from rag.generate.base import ChatModel, Message, ModelError, ModelRequestError, ModelUnavailable

__all__ = ["ChatModel", "Message", "ModelError", "ModelRequestError", "ModelUnavailable"]
