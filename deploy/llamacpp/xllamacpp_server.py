"""llama.cpp's own HTTP server (llama-server) from the prebuilt `xllamacpp` wheel, with llama-server's flags.

    pip install xllamacpp==2026.10.11549
    python3 deploy/llamacpp/xllamacpp_server.py --model FILE.gguf --alias NAME --port 8080 ...

Why: a machine without a llama.cpp build would otherwise compile llama.cpp from source (about
20 minutes on two cores for llama-cpp-python). `xllamacpp` (Xorbits, the llama.cpp backend of
Xinference) ships the same C++ server, continuous batching and OpenAI-compatible routes included,
as a manylinux wheel, but no command: this script maps the flags of `launch.sh`'s native profile
onto its parameters, so both profiles take the same settings and serve the same API. It needs
nothing but the standard library and xllamacpp, so it runs from any environment that has it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType


def parse(argv: list[str]) -> argparse.Namespace:
    """llama-server's flags that launch.sh passes (its short forms too), with llama-server's defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", required=True, help="the GGUF file")
    parser.add_argument("-a", "--alias", default="", help="the model name /v1/models lists")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("-c", "--ctx-size", type=int, default=0, help="0: the model's own window")
    parser.add_argument("-ngl", "--n-gpu-layers", "--gpu-layers", type=int, default=0)
    parser.add_argument("-t", "--threads", type=int, default=-1, help="-1: llama.cpp picks")
    parser.add_argument("-np", "--parallel", type=int, default=1, help="requests decoded at once")
    parser.add_argument("--api-key", default="", help="the key clients must send, if any")
    parser.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="FNAME",
        help="a LoRA adapter GGUF (repeat it, or comma-separate, for several)",
    )
    parser.add_argument(
        "--lora-init-without-apply",
        action="store_true",
        help="load the adapters at scale 0: a request applies one with its `lora` field",
    )
    jinja = parser.add_mutually_exclusive_group()
    jinja.add_argument("--jinja", dest="jinja", action="store_true", default=True)
    jinja.add_argument("--no-jinja", dest="jinja", action="store_false")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace) -> None:
    """Start the server (it answers from its own threads) and keep it until SIGTERM or SIGINT."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    if args.alias:
        params.model_alias = {args.alias}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx_size
    params.n_gpu_layers = args.n_gpu_layers
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads  # llama-server's -tb defaults to -t
    params.n_parallel = args.parallel
    params.use_jinja = args.jinja
    if args.api_key:
        params.api_keys = [args.api_key]
    # llama-server's -without-apply loads the adapters at scale 0; xllamacpp keeps the flag but still
    # applies each adapter at its loaded scale to a request without a `lora` field, so scale 0 it is
    scale = 0.0 if args.lora_init_without_apply else 1.0
    paths = [path for value in args.lora for path in value.split(",") if path]
    params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(path, scale) for path in paths]
    params.lora_init_without_apply = args.lora_init_without_apply
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    server = xllamacpp.Server(params)
    print(f"xllamacpp {xllamacpp.__version__} serving {args.model} at {server.listening_address}", flush=True)
    stop.wait()
    del server  # joins the server's threads


if __name__ == "__main__":
    serve(parse(sys.argv[1:]))
