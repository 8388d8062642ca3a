"""Open-loop load against `rag serve`: a mixed workload at a fixed arrival rate, for minutes.

    python benchmarks/load.py [--rate 30] [--minutes 10] [--mix retrieval=45,retrieve=45,query=5,upload=5]
    python benchmarks/load.py --find 10,20,30,40 --step-s 30     # the highest rate it sustains
    python benchmarks/load.py --url http://host:8000 --kb NAME    # an already running service

Requests are sent at scheduled times (`rate` per second, evenly spaced), whatever happened to the
ones before: a client that waited for each reply (a closed loop) would slow down with a stalled
server and hide the stall. Each latency is measured from the request's *scheduled* send time, so
time spent queued behind a stall counts. The workload mixes Dify's `/retrieval`, `/v1/retrieve`,
`/v1/query` (an answer from the model) and uploads of small documents to a second KB.

Without `--url`, it builds a KB of synthetic chunks exactly as benchmarks/http.py does, in a
temporary data folder, and starts `rag serve` on it as a separate process (the generator's own
work does not share the server's interpreter; on a small machine it still shares the cores). The
server's resident memory is sampled every few seconds. It prints latency percentiles per kind of
request, errors (non-2xx, transport failures, a reply later than `--timeout-s`) and RSS per
minute, and the issue's targets against them: no errors, p99 within 5 x p50, RSS flat within
10 % from minute 2 on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from benchmarks.http import build_kb
from benchmarks.retrieve import BASE_VECTORS, KB, Corpus
from rag.common.stats import percentile

UPLOAD_KB = "load-uploads"
START_TIMEOUT_S = 600.0
RSS_EVERY_S = 5.0
KINDS = ("retrieval", "retrieve", "query", "upload")


@dataclass(slots=True)
class Outcome:
    kind: str
    scheduled: float
    latency_ms: float
    ok: bool
    detail: str = ""


@dataclass(slots=True)
class Run:
    rate: float
    seconds: float
    outcomes: list[Outcome] = field(default_factory=list)
    #: (seconds since start, server RSS in MiB)
    rss: list[tuple[float, float]] = field(default_factory=list)
    #: how late the generator itself sent requests (ms): non-zero means the client, not the server, lagged
    send_lag_ms: list[float] = field(default_factory=list)


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        if name.strip() not in KINDS:
            raise SystemExit(f"--mix: unknown kind {name!r} (one of {', '.join(KINDS)})")
        mix[name.strip()] = float(share)
    if sum(mix.values()) <= 0:
        raise SystemExit("--mix: the shares add up to nothing")
    return mix


def request_for(kind: str, question: str, kb: str, serial: int) -> tuple[str, dict]:
    """The path and httpx keyword arguments of one request of `kind`."""
    if kind == "retrieval":
        return "/retrieval", {
            "json": {
                "knowledge_id": kb,
                "query": question,
                "retrieval_setting": {"top_k": 5, "score_threshold": 0.0},
            }
        }
    if kind == "retrieve":
        return "/v1/retrieve", {"json": {"question": question, "kb": kb, "top_k": 5}}
    if kind == "query":
        return "/v1/query", {"json": {"question": question, "kb": kb, "top_k": 5}}
    text = f"Load note {serial}. {question} The answer is recorded in note {serial}.\n"
    files = {"files": (f"note-{serial % 50}.txt", text.encode(), "text/plain")}
    return f"/v1/knowledge-bases/{UPLOAD_KB}/documents", {"files": files}


async def sample_rss(pid: int | None, run: Run, started: float, stop: asyncio.Event) -> None:
    if pid is None:
        return
    process = psutil.Process(pid)
    while not stop.is_set():
        run.rss.append((time.monotonic() - started, process.memory_info().rss / 2**20))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_EVERY_S)


async def drive(
    url: str,
    kb: str,
    rate: float,
    seconds: float,
    mix: dict[str, float],
    timeout_s: float,
    pid: int | None,
    pool: int = 0,
    first: int = 0,
) -> Run:
    """Send `rate` requests a second for `seconds`, each at its scheduled time, asking questions of a
    pool of `pool` (0: a question of its own for each request, as from many users; a small pool
    lets the service's memory of query vectors answer most of them without the model); `first`
    skips the questions an earlier step of `--find` asked."""
    total = int(rate * seconds)
    questions = Corpus().questions(pool) if pool else Corpus().questions(first + total)[first:]
    chooser = random.Random(7)
    kinds, weights = list(mix), list(mix.values())
    run = Run(rate, seconds)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits) as client:

        async def one(kind: str, scheduled: float, serial: int) -> None:
            path, arguments = request_for(kind, questions[serial % len(questions)], kb, serial)
            try:
                reply = await client.post(path, **arguments)
                ok, detail = reply.is_success, "" if reply.is_success else f"HTTP {reply.status_code}"
            except httpx.HTTPError as exc:
                ok, detail = False, type(exc).__name__
            run.outcomes.append(Outcome(kind, scheduled, (time.monotonic() - scheduled) * 1000, ok, detail))

        stop = asyncio.Event()
        started = time.monotonic()
        sampler = asyncio.create_task(sample_rss(pid, run, started, stop))
        tasks: set[asyncio.Task] = set()
        for serial in range(total):
            scheduled = started + serial / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            run.send_lag_ms.append(max(0.0, (time.monotonic() - scheduled) * 1000))
            kind = chooser.choices(kinds, weights)[0]
            task = asyncio.create_task(one(kind, scheduled, serial))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)
        stop.set()
        await sampler
    return run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data_dir: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "RAG_DATA_DIR": data_dir}
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"rag serve exited with {server.returncode}: see {log_path}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise SystemExit("rag serve did not start in time")


def prepare(url: str, kb: str, mix: dict[str, float], timeout_s: float) -> None:
    """The upload KB exists, and one request of each kind has run (models loaded, caches warm)."""
    with httpx.Client(base_url=url, timeout=max(timeout_s, 300.0)) as client:
        if mix.get("upload"):
            reply = client.post("/v1/knowledge-bases", json={"name": UPLOAD_KB})
            if reply.status_code not in (201, 409):
                raise SystemExit(f"cannot create KB {UPLOAD_KB}: HTTP {reply.status_code} {reply.text[:200]}")
        for serial, kind in enumerate(kind for kind, share in mix.items() if share > 0):
            path, arguments = request_for(kind, "warm-up question about the corpus", kb, 10_000 + serial)
            client.post(path, **arguments).raise_for_status()


def summary_table(run: Run, title: str) -> Table:
    table = Table(title=title)
    for column in ("kind", "sent", "errors", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "p99/p50"):
        table.add_column(column, justify="right")
    groups = {kind: [o for o in run.outcomes if o.kind == kind] for kind in KINDS}
    groups["all"] = run.outcomes
    for kind, outcomes in groups.items():
        if not outcomes:
            continue
        latencies = [o.latency_ms for o in outcomes]
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        table.add_row(
            kind,
            str(len(outcomes)),
            str(sum(not o.ok for o in outcomes)),
            f"{p50:.0f}",
            f"{p99:.0f}",
            f"{percentile(latencies, 99.9):.0f}",
            f"{max(latencies):.0f}",
            f"{p99 / p50:.1f}" if p50 else "-",
        )
    return table


def rss_table(run: Run) -> Table:
    table = Table(title="server RSS, MiB")
    table.add_column("minute", justify="right")
    table.add_column("at the end of the minute", justify="right")
    for minute in range(int(run.seconds // 60) + 1):
        samples = [mib for at, mib in run.rss if minute * 60 <= at < (minute + 1) * 60]
        if samples:
            table.add_row(str(minute + 1), f"{samples[-1]:.0f}")
    return table


def verdict(run: Run) -> list[str]:
    """The issue's three targets, each met or missed, with the figure."""
    latencies = [o.latency_ms for o in run.outcomes]
    errors = sum(not o.ok for o in run.outcomes)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    served = len(run.outcomes) / run.seconds
    lines = [
        f"rate {run.rate:g}/s for {run.seconds:g} s: {len(run.outcomes)} requests ({served:.1f}/s)",
        f"errors: {errors} ({'met' if errors == 0 else 'missed'}: target 0)",
        f"p99/p50: {p99 / p50:.2f} ({'met' if p99 <= 5 * p50 else 'missed'}: target <= 5)",
        f"client send lag p99: {percentile(run.send_lag_ms, 99):.1f} ms (the generator's own delay)",
        "median of the first and last third: {:.0f} and {:.0f} ms ({})".format(
            *backlog(run), "kept up" if keeps_up(run) else "missed: a queue built up"
        ),
    ]
    steady = [mib for at, mib in run.rss if at >= 60]
    if len(steady) >= 2:
        low, high = min(steady), max(steady)
        spread = (high - low) / ((high + low) / 2)
        lines.append(
            f"RSS from minute 2: {low:.0f}-{high:.0f} MiB, spread {spread:.1%} "
            f"({'met' if spread <= 0.2 else 'missed'}: target within +/-10 %)"
        )
    errors_by = sorted({f"{o.kind}: {o.detail}" for o in run.outcomes if not o.ok})
    if errors_by:
        lines.append("error kinds: " + "; ".join(errors_by[:8]))
    return lines


def backlog(run: Run) -> tuple[float, float]:
    """The median latency of the first and of the last third of the requests, by scheduled time: a
    server that keeps up answers the last as fast as the first, while one that does not builds a
    queue, and then every request is slow alike (p99/p50 alone would call that steady)."""
    ordered = [o.latency_ms for o in sorted(run.outcomes, key=lambda o: o.scheduled)]
    third = max(len(ordered) // 3, 1)
    return percentile(ordered[:third], 50), percentile(ordered[-third:], 50)


def keeps_up(run: Run) -> bool:
    first, last = backlog(run)
    return last <= 2 * first + 20


def sustained(run: Run) -> bool:
    latencies = [o.latency_ms for o in run.outcomes]
    steady = percentile(latencies, 99) <= 5 * percentile(latencies, 50)
    return all(o.ok for o in run.outcomes) and steady and keeps_up(run)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to send at --rate")
    parser.add_argument("--find", default="", help="rates to try in turn (comma-separated), --step-s each")
    parser.add_argument("--step-s", type=float, default=30.0, help="seconds per rate with --find")
    parser.add_argument("--mix", default="retrieval=45,retrieve=45,query=5,upload=5")
    parser.add_argument("--timeout-s", type=float, default=30.0, help="a reply later than this is an error")
    parser.add_argument("--url", default="", help="an already running service (skips building and starting)")
    parser.add_argument("--kb", default=KB, help="the KB questions go to, with --url")
    parser.add_argument(
        "--questions", type=int, default=0, help="distinct questions to cycle through (0: one per request)"
    )
    parser.add_argument("--chunks", type=int, default=10_000, help="chunks in the built KB")
    parser.add_argument("--base-vectors", type=int, default=BASE_VECTORS)
    args = parser.parse_args()
    mix = parse_mix(args.mix)
    console = Console(width=160)
    with tempfile.TemporaryDirectory(prefix="rag-load-") as data_dir:
        server = None
        url, kb = args.url, args.kb
        if not url:
            started = time.perf_counter()
            build_kb(data_dir, args.chunks, args.base_vectors)
            console.log(f"{args.chunks:,} chunks built in {time.perf_counter() - started:.0f} s")
            server, url = start_server(data_dir, Path(data_dir) / "serve.log")
        try:
            prepare(url, kb, mix, args.timeout_s)
            pid = server.pid if server else None
            if args.find:
                sent = 0
                for rate in [float(r) for r in args.find.split(",")]:
                    run = asyncio.run(
                        drive(url, kb, rate, args.step_s, mix, args.timeout_s, pid, args.questions, sent)
                    )
                    sent += len(run.outcomes)
                    console.print(summary_table(run, f"{rate:g} requests/s for {args.step_s:g} s"))
                    console.print("\n".join(verdict(run)))
                    if not sustained(run):
                        console.print(f"[bold]{rate:g}/s is not sustained; stopping[/]")
                        break
            else:
                run = asyncio.run(
                    drive(url, kb, args.rate, args.minutes * 60, mix, args.timeout_s, pid, args.questions)
                )
                console.print(
                    summary_table(run, f"{args.rate:g} requests/s for {args.minutes:g} min ({args.mix})")
                )
                console.print(rss_table(run))
                console.print("\n".join(verdict(run)))
        finally:
            if server is not None:
                server.terminate()
                try:
                    server.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    server.kill()


if __name__ == "__main__":
    main()
