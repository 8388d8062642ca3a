"""What every `rag` sub-command shares: the two consoles, error exits, settings, the stores, JSON
output and the options many commands take."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from rag.config import Settings
from rag.stores.errors import StoreUnavailable
from rag.stores.factory import Stores, open_stores
from rag.stores.lock import StoreLocked

out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]
KbOption = Annotated[str, typer.Option("--kb", help="Knowledge base name")]
T = TypeVar("T")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear error line on stderr; raise the returned Exit."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def load_settings() -> Settings:
    """The settings, or an exit naming each bad RAG_* variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"RAG_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise fail(f"invalid settings: {problems}") from None


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str, ensure_ascii=False))


@contextmanager
def configured_stores() -> Iterator[Stores]:
    """Open the configured stores, turning every way that can fail into one clear line."""
    from rag.common.chat import ModelError
    from rag.embed import EmbeddingModelError, configured_model
    from rag.extract.base import ExtractorUnavailable

    settings = load_settings()
    try:
        stores = open_stores(settings, configured_model(settings))
    except StoreLocked as exc:
        raise fail(locked_message(settings, exc)) from None
    except (StoreUnavailable, EmbeddingModelError) as exc:
        raise fail(str(exc)) from None
    try:
        yield stores
    except (StoreUnavailable, ModelError, EmbeddingModelError, ExtractorUnavailable) as exc:
        # documents already stored stay resumable: the next run picks them up
        raise fail(str(exc)) from None
    finally:
        stores.close()


def locked_message(settings: Settings, exc: StoreLocked) -> str:
    """Why the stores are locked: when `rag serve` holds them (and the command was not one it takes
    over, `rag.cli.remote`), say so and where it runs; else the lock's own message."""
    from rag.stores.server_record import running_server

    server = running_server(settings.data_dir)
    if server is None:
        return str(exc)
    return (
        f"rag serve on {server.url} holds this data folder ({settings.data_dir}): "
        "stop it, or send the work to its HTTP API"
    )


def with_stores(action: Callable[[Stores], T]) -> T:
    """`action` over the configured stores, closed afterwards: for commands that need one call."""
    with configured_stores() as stores:
        return action(stores)
