"""Generation: the `ChatModel` interface (`rag/common/chat.py`) over model servers (`client.py`) and the
in-process model (`local.py`, with its weights found and cached by `weights.py`); `factory.py` picks
one from the settings. Only the interface is imported here: the backends pull in httpx or torch on
demand."""

from rag.common.chat import ChatModel, Message, ModelError, ModelRequestError, ModelUnavailable

__all__ = ["ChatModel", "Message", "ModelError", "ModelRequestError", "ModelUnavailable"]
