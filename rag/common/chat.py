"""What every chat backend offers, and the errors callers tell apart.

The retrieval pipeline, the LLM extractor and the API talk to one `ChatModel`, whether it is a model
server over HTTP or the small model in-process, so switching backends is a setting, not a code path.
A backend that `rag models serve` can put behind an OpenAI-compatible API is a `ServableChatModel`.

It lives below every layer, not in `rag/generate/`: the SQL retriever, the LLM extractor and the
answer flow take a `ChatModel` without depending on any backend, and `rag.retrieve` and
`rag.generate` never import each other (a contract in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


class ModelError(Exception):
    """Generation failed in a way that retrying the same request will not fix (auth, unknown model…)."""


class ModelUnavailable(ModelError):
    """The model cannot be reached or loaded at all; the message names where (secrets masked)."""


class ModelRequestError(ModelError):
    """The backend refused this one request (too long, malformed); other requests may still succeed."""


class ChatModel(Protocol):
    """A chat model that answers a list of messages, whole or token by token."""

    @property
    def name(self) -> str:
        """Identifies the weights (served model name, local path): part of any cache key over outputs."""

    @property
    def description(self) -> str:
        """Where the model runs, for logs and error messages (no secrets)."""

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_mode: bool = False,
    ) -> str:
        """The whole reply. `json_mode` asks servers for a JSON object; callers validate regardless."""

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str]:
        """The reply in pieces as they are generated; closing the iterator stops generation."""

    def close(self) -> None: ...


#: one generated token's alternatives, token text → log-probability (the chosen token among them)
TokenLogprobs = dict[str, float]


@runtime_checkable
class LogprobChatModel(Protocol):
    """A chat model that can also say how likely each alternative of each generated token was.

    Separate from `ChatModel` because only some backends can (OpenAI-compatible servers such as
    vLLM and llama.cpp return `logprobs`; the in-process model does not), and a caller that grades
    with a short reply (the LLM reranker) gets a continuous score from them instead of a few levels.
    """

    def complete_logprobs(
        self, messages: Sequence[Message], *, max_tokens: int = 4, top_logprobs: int = 10
    ) -> tuple[str, list[TokenLogprobs]]:
        """The whole reply and, per generated token, its `top_logprobs` most likely alternatives;
        the list is empty when the backend returned no log-probabilities."""


#: messages as a chat template takes them: ours, or OpenAI's with tool calls and tool results
TemplateMessages = Sequence[Message] | Sequence[Mapping[str, Any]]


class ServableChatModel(ChatModel, Protocol):
    """A chat model an OpenAI-compatible server can stand in front of: besides replying, it takes
    OpenAI's messages and tool specs, counts tokens for `usage`, and knows its window for
    `/v1/models`."""

    @property
    def context_length(self) -> int:
        """Tokens of prompt plus answer the model takes."""

    def complete(
        self,
        messages: TemplateMessages,
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_mode: bool = False,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        """The whole reply; `tools` (OpenAI function specs) are offered to the model, whose reply
        may then hold tool calls for the server to parse."""

    def stream(
        self, messages: TemplateMessages, *, max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str]:
        """The reply in pieces, without tools: a call can only be told from text once it is whole."""

    def count_tokens(
        self, messages: TemplateMessages, reply: str = "", tools: list[dict[str, Any]] | None = None
    ) -> tuple[int, int]:
        """Tokens of the prompt these messages (and tools) make, and of a reply."""
