"""What every `rag` sub-command shares: the two consoles, error exits, settings, JSON output."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from rag.config import Settings

out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]


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
