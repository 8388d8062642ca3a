#!/usr/bin/env bash
# LMDeploy's OpenAI-compatible api_server (TurboMind engine).
#
#   deploy/lmdeploy/launch.sh [--dry-run] [--env-file F] [-- FLAGS]
#
# Clients use http://HOST:2333/v1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
parse_args "$@"
load_env "${ENV_FILE:-$here/lmdeploy.env}"
: "${LMDEPLOY_MODEL:?set LMDEPLOY_MODEL to a local model folder}"
cmd=(lmdeploy serve api_server "$LMDEPLOY_MODEL"
  --server-name "$LMDEPLOY_HOST" --server-port "$LMDEPLOY_PORT"
  --session-len "$LMDEPLOY_SESSION_LEN" --model-name "$LMDEPLOY_MODEL_NAME"
  --cache-max-entry-count "$LMDEPLOY_CACHE_MAX_ENTRY_COUNT")
[ -z "${LMDEPLOY_API_KEY:-}" ] || cmd+=(--api-keys "$LMDEPLOY_API_KEY")
if [ -n "${LMDEPLOY_ADAPTERS:-}" ]; then
  # LoRA runs on LMDeploy's PyTorch engine only; each NAME is then a model clients can ask for
  read -r -a adapters <<< "$LMDEPLOY_ADAPTERS"
  cmd+=(--backend pytorch --adapters "${adapters[@]}")
fi
run LMDEPLOY_USE_MODELSCOPE -- "${cmd[@]}" "${EXTRA_ARGS[@]}"
