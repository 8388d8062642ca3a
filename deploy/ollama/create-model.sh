#!/usr/bin/env bash
# Build the model the service asks for from deploy/ollama/Modelfile (base model + num_ctx).
#
#   deploy/ollama/create-model.sh [--dry-run] [--env-file F]
#
# Needs a running server (launch.sh) and the base model pulled (`ollama pull qwen3:1.7b`).
# OLLAMA_MODELFILE names another Modelfile: `rag finetune deploy --server ollama` writes one with
# FROM the base GGUF and ADAPTER the LoRA GGUF.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
parse_args "$@"
load_env "${ENV_FILE:-$here/ollama.env}"
run OLLAMA_HOST -- ollama create "$OLLAMA_RAG_MODEL" -f "${OLLAMA_MODELFILE:-$here/Modelfile}"
