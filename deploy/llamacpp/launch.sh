#!/usr/bin/env bash
# llama.cpp's OpenAI-compatible server for a GGUF file: llama-server, or llama-cpp-python's.
#
#   deploy/llamacpp/launch.sh [--profile native|python] [--dry-run] [--env-file F] [-- FLAGS]
#
# native (default): the llama-server binary of a llama.cpp build or release.
# python: `pip install "llama-cpp-python[server]"`, for machines without a llama.cpp build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
parse_args "$@"
load_env "${ENV_FILE:-$here/llamacpp.env}"
PROFILE=${PROFILE:-${LLAMACPP_PROFILE:-native}}
: "${LLAMACPP_MODEL:?set LLAMACPP_MODEL to a .gguf file}"
case "$PROFILE" in
  native)
    cmd=(llama-server --model "$LLAMACPP_MODEL" --alias "$LLAMACPP_MODEL_NAME"
      --host "$LLAMACPP_HOST" --port "$LLAMACPP_PORT" --ctx-size "$LLAMACPP_CTX_SIZE"
      --n-gpu-layers "$LLAMACPP_GPU_LAYERS" --threads "$LLAMACPP_THREADS" --jinja)
    ;;
  python)
    cmd=("${LLAMACPP_PYTHON:-python3}" -m llama_cpp.server --model "$LLAMACPP_MODEL"
      --model_alias "$LLAMACPP_MODEL_NAME" --host "$LLAMACPP_HOST" --port "$LLAMACPP_PORT"
      --n_ctx "$LLAMACPP_CTX_SIZE" --n_gpu_layers "$LLAMACPP_GPU_LAYERS" --n_threads "$LLAMACPP_THREADS"
      --interrupt_requests False)
    ;;
  *) echo "unknown profile $PROFILE: choose native or python" >&2; exit 2 ;;
esac
run -- "${cmd[@]}" "${EXTRA_ARGS[@]}"
