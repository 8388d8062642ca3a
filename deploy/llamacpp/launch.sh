#!/usr/bin/env bash
# llama.cpp's OpenAI-compatible server for a GGUF file: llama-server (a build, or xllamacpp's wheel), or llama-cpp-python's.
#
#   deploy/llamacpp/launch.sh [--profile native|xllamacpp|python] [--dry-run] [--env-file F] [-- FLAGS]
#
# native (default): the llama-server binary of a llama.cpp build or release.
# xllamacpp: the same server from the prebuilt wheel, `pip install xllamacpp==2026.10.11549`, with
#   the native profile's flags (xllamacpp_server.py beside this script), for machines without a
#   llama.cpp build; LLAMACPP_PYTHON names the python that has it.
# python: `pip install "llama-cpp-python[server]"` (compiles llama.cpp: ~20 min on 2 cores).
# LLAMACPP_LORA: LoRA adapter GGUFs (comma-separated; `rag finetune deploy` writes them), loaded at
#   scale 0 so that a request picks one by its `lora` field (LLAMACPP_LORA_PER_REQUEST=0: all apply).
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
  xllamacpp)
    cmd=("${LLAMACPP_PYTHON:-python3}" "$here/xllamacpp_server.py" --model "$LLAMACPP_MODEL"
      --alias "$LLAMACPP_MODEL_NAME" --host "$LLAMACPP_HOST" --port "$LLAMACPP_PORT"
      --ctx-size "$LLAMACPP_CTX_SIZE" --n-gpu-layers "$LLAMACPP_GPU_LAYERS" --threads "$LLAMACPP_THREADS"
      --jinja)
    ;;
  python)
    cmd=("${LLAMACPP_PYTHON:-python3}" -m llama_cpp.server --model "$LLAMACPP_MODEL"
      --model_alias "$LLAMACPP_MODEL_NAME" --host "$LLAMACPP_HOST" --port "$LLAMACPP_PORT"
      --n_ctx "$LLAMACPP_CTX_SIZE" --n_gpu_layers "$LLAMACPP_GPU_LAYERS" --n_threads "$LLAMACPP_THREADS"
      --interrupt_requests False)
    ;;
  *) echo "unknown profile $PROFILE: choose native, xllamacpp or python" >&2; exit 2 ;;
esac
if [ -n "${LLAMACPP_LORA:-}" ]; then
  [ "$PROFILE" != python ] || { echo "LLAMACPP_LORA needs the native or xllamacpp profile" >&2; exit 2; }
  IFS=, read -r -a adapters <<< "$LLAMACPP_LORA"
  for adapter in "${adapters[@]}"; do cmd+=(--lora "$adapter"); done
  [ "${LLAMACPP_LORA_PER_REQUEST:-1}" = 0 ] || cmd+=(--lora-init-without-apply)
fi
run -- "${cmd[@]}" "${EXTRA_ARGS[@]}"
