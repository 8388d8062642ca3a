#!/usr/bin/env bash
# Launch the chat model inside a running Xinference (launch.sh), under the name clients send.
#
#   deploy/xinference/launch-model.sh [--dry-run] [--env-file F] [-- FLAGS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
parse_args "$@"
load_env "${ENV_FILE:-$here/xinference.env}"
cmd=(xinference launch
  --endpoint "http://127.0.0.1:$XINFERENCE_PORT"
  --model-name "$XINFERENCE_MODEL_NAME" --model-type LLM
  --model-engine "$XINFERENCE_MODEL_ENGINE" --model-format "$XINFERENCE_MODEL_FORMAT"
  --size-in-billions "$XINFERENCE_MODEL_SIZE" --model-uid "$XINFERENCE_MODEL_UID")
# LoRA adapters: NAME=PATH pairs become `--lora-modules NAME PATH`, one flag per adapter
read -r -a adapters <<< "${XINFERENCE_LORA_MODULES:-}"
for pair in "${adapters[@]}"; do cmd+=(--lora-modules "${pair%%=*}" "${pair#*=}"); done
run XINFERENCE_MODEL_SRC -- "${cmd[@]}" "${EXTRA_ARGS[@]}"
