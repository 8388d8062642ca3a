"""`rag finetune deploy`: serving an adapter on a model server.

It prints how to serve an adapter on a model server (and writes what that server loads):
each server takes LoRA adapters its own way, and the base it sits on must be the one the adapter
was trained on, which the adapter card's fingerprint checks here, before a server starts.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rag.cli.support import fail, load_settings, out

_DETECT_TIMEOUT_S = 10.0


def deploy(
    adapter_dir: Annotated[Path, typer.Argument(help="The adapter folder `rag finetune train` wrote")],
    server: Annotated[
        str,
        typer.Option(help="vllm, lmdeploy, xinference, llamacpp or ollama [default: RAG_LLM_URL's server]"),
    ] = "",
    base: Annotated[
        Path | None, typer.Option(help="The base weights the server loads [default: the adapter card's]")
    ] = None,
    name: Annotated[str, typer.Option(help="The model name to serve it under [default: the card's]")] = "",
    run: Annotated[bool, typer.Option("--run", help="Run the launch script instead of printing it")] = False,
) -> None:
    """Print the launch line that serves the adapter on a model server and the RAG_LLM_MODEL to set;
    for llama.cpp and Ollama write the adapter as GGUF first. Exit 2 when the base differs from the
    one the adapter was trained on."""
    from rag.finetune.deploy import SERVERS, plan
    from rag.generate.adapter_card import AdapterError

    settings = load_settings()
    kind = server or _detected(settings.llm_url, settings.llm_api_key.get_secret_value())
    if kind not in SERVERS:
        raise fail(f"cannot serve adapters on {kind!r}: pass --server {'|'.join(SERVERS)}")
    try:
        launch = plan(adapter_dir, kind, base=base, name=name, cache_dir=settings.data_dir / "models")
    except AdapterError as exc:
        raise fail(str(exc)) from None
    for path in launch.written:
        out.print(f"wrote {escape(str(path))}", highlight=False)
    if run:
        if not launch.script.is_file():
            raise fail(f"no launch script at {launch.script}: run it from a checkout of the repository")
        done = subprocess.run(["bash", str(launch.script)], env={**os.environ, **launch.env}, check=False)
        raise typer.Exit(done.returncode)
    out.print(escape(launch.command_line), highlight=False, soft_wrap=True)
    for note in launch.notes:
        out.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    if launch.served_name:
        out.print(f"RAG_LLM_MODEL={escape(launch.served_name)}", highlight=False)


def _detected(url: str, api_key: str) -> str:
    """The server kind behind RAG_LLM_URL, from `owned_by` in its `GET /v1/models`."""
    from rag.common.chat import ModelError
    from rag.generate.client import ChatClient
    from rag.generate.quirks import server_kind

    if not url:
        raise fail("no server given: pass --server, or set RAG_LLM_URL to the running server")
    client = ChatClient(url, api_key=api_key, timeout=_DETECT_TIMEOUT_S, retries=0)
    try:
        kind = server_kind(client.models())
    except ModelError as exc:
        raise fail(f"cannot tell which server {client.url} is ({exc}): pass --server") from None
    finally:
        client.close()
    if not kind:
        raise fail(f"{client.url} does not say which server it is: pass --server")
    return kind


def merge(
    adapter_dir: Annotated[Path, typer.Argument(help="The adapter folder `rag finetune train` wrote")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the merged Transformers model")],
) -> None:
    """Merge the adapter into its base and save a plain Transformers folder, for a server or tool
    that takes no adapters (the base is checked against the adapter's fingerprint first)."""
    from rag.finetune.export import merge_adapter
    from rag.generate.adapter_card import AdapterError

    settings = load_settings()
    try:
        merge_adapter(adapter_dir, out_dir, cache_dir=settings.data_dir / "models")
    except (AdapterError, OSError) as exc:
        raise fail(str(exc)) from None
    out.print(f"merged model in {escape(str(out_dir))}", highlight=False)
