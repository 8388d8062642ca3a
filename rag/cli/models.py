"""`rag models check|bench|serve`: probe, benchmark and (for the in-process model) serve a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rag.cli.support import JsonOption, err, fail, load_settings, out, print_json

models_app = typer.Typer(help="Check, benchmark and serve chat models.", no_args_is_help=True)

UrlOption = Annotated[
    str, typer.Option("--url", help="OpenAI-compatible base URL ending in /v1 [RAG_LLM_URL]")
]
ModelOption = Annotated[str, typer.Option("--model", help="Model name to ask for [RAG_LLM_MODEL]")]


@models_app.command("check")
def check(
    url: UrlOption = "",
    model: ModelOption = "",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer")] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """List the served models, check the name and context window, time one whole and one streamed
    reply, and say how to fix each problem. Exit 1 when any check fails."""
    from rag.serving.check import check_model

    settings = load_settings()
    url = url or settings.llm_url
    if not url:
        raise fail(
            "no model server to check: set RAG_LLM_URL or pass --url (the in-process model needs no "
            "server; `rag models serve` makes it one)"
        )
    report = check_model(
        settings, url, model or settings.llm_model, settings.llm_api_key.get_secret_value(), timeout
    )
    if as_json:
        print_json(report.as_json())
    else:
        out.print(
            f"[bold]{escape(report.url)}[/] model [bold]{escape(report.model or '?')}[/]", highlight=False
        )
        for finding in report.findings:
            mark = "[green]ok[/]  " if finding.ok else "[red]FAIL[/]"
            out.print(f"{mark} {escape(finding.what)}", highlight=False)
            if finding.fix and not finding.ok:
                out.print(f"      fix: {escape(finding.fix)}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@models_app.command("bench")
def bench(
    url: Annotated[
        list[str] | None, typer.Option("--url", help="Server base URL, repeat to compare [RAG_LLM_URL]")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Model per --url, in order (one: for all)")
    ] = None,
    concurrency: Annotated[
        str, typer.Option(help="Concurrent requests per level, comma-separated")
    ] = "1,4,16",
    prompts: Annotated[Path | None, typer.Option(help="Prompts: one per line, or JSON lines")] = None,
    requests: Annotated[
        int, typer.Option(help="Requests per level (default: 2 × concurrency, at least 8)")
    ] = 0,
    max_tokens: Annotated[int, typer.Option(help="Tokens to generate per request")] = 128,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply")] = 300.0,
    plot: Annotated[Path, typer.Option(help="PNG of throughput against concurrency")] = Path(
        "models-bench.png"
    ),
    as_json: JsonOption = False,
) -> None:
    """The same prompts against one or several servers at each concurrency: time to first token,
    tokens/s per request and in total, errors; and a PNG plot of throughput."""
    from rag.serving.bench import PromptFileError, Target, plot_levels, read_prompts, run_level

    settings = load_settings()
    urls = url or ([settings.llm_url] if settings.llm_url else [])
    if not urls:
        raise fail("no model server to benchmark: pass --url (repeat it to compare) or set RAG_LLM_URL")
    names = model or ([settings.llm_model] if not url else [""])
    if len(names) not in (1, len(urls)):
        raise fail(f"--model given {len(names)} times for {len(urls)} --url: give one, or one per --url")
    try:
        levels = sorted({int(c) for c in concurrency.split(",") if c.strip()})
    except ValueError:
        raise fail(f"--concurrency {concurrency!r}: give whole numbers, comma-separated") from None
    if not levels or levels[0] < 1:
        raise fail(f"--concurrency {concurrency!r}: each level must be at least 1")
    try:
        messages = read_prompts(prompts)
    except PromptFileError as exc:
        raise fail(str(exc)) from None
    key = settings.llm_api_key.get_secret_value()
    targets = [Target(u, names[0] if len(names) == 1 else names[i], key) for i, u in enumerate(urls)]
    results = []
    for target in targets:
        for level in levels:
            count = requests or max(8, 2 * level)
            err.print(f"{escape(target.label)}: {count} requests at concurrency {level}…", highlight=False)
            try:
                results.append(run_level(target, messages, level, count, max_tokens, timeout))
            except Exception as exc:  # an unreachable server ends its own rows, not the others'
                err.print(f"[red]{escape(target.label)}[/]: {escape(str(exc) or type(exc).__name__)}")
                break
    if not results:
        raise fail("no server answered")
    image = plot_levels(results, plot)
    if as_json:
        print_json({"levels": [level.as_json() for level in results], "plot": str(image)})
        return
    table = Table(title="model server benchmark")
    for header in (
        "server",
        "conc.",
        "requests",
        "errors",
        "TTFT p50 s",
        "TTFT p99 s",
        "tok/s/req",
        "tok/s all",
    ):
        table.add_column(header, justify="left" if header == "server" else "right")
    for level in results:
        table.add_row(
            level.target,
            str(level.concurrency),
            str(level.requests),
            str(level.errors),
            _seconds(level.ttft_p50_s),
            _seconds(level.ttft_p99_s),
            f"{level.request_tokens_per_s:.1f}" if level.request_tokens_per_s else "-",
            f"{level.total_tokens_per_s:.1f}",
        )
    out.print(table)
    for level in results:
        if level.first_error:
            out.print(
                f"[red]{escape(level.target)}[/] first error: {escape(level.first_error)}", highlight=False
            )
    out.print(f"plot: {image}")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@models_app.command("serve")
def serve(
    model: Annotated[
        str, typer.Option(help="A .gguf file or model folder [RAG_LLM_MODEL; default: packaged]")
    ] = "",
    name: Annotated[str, typer.Option(help="The model name clients send (default: the file's name)")] = "",
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8001,
) -> None:
    """Serve the in-process Transformers model over an OpenAI-compatible API (one request at a time),
    for a machine without vLLM, Ollama or llama.cpp."""
    import uvicorn

    from api.model_server import create_model_app
    from rag.common.chat import ModelUnavailable
    from rag.generate.local import LocalChatModel
    from rag.generate.weights import PACKAGED_NAME

    settings = load_settings()
    source = model or settings.llm_model
    try:
        chat = LocalChatModel(source, cache_dir=settings.data_dir / "models")
        served = name or (PACKAGED_NAME.lower() if chat.name == PACKAGED_NAME else chat.source.path.stem)
        err.print(f"loading {escape(chat.description)}…", highlight=False)
        window = chat.context_length  # load before listening: a listening server answers at once
    except ModelUnavailable as exc:
        raise fail(str(exc)) from None
    err.print(f"serving {escape(served)} ({window}-token window) at http://{host}:{port}/v1", highlight=False)
    uvicorn.run(create_model_app(chat, served), host=host, port=port, log_level="warning")
