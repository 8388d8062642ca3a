#!/usr/bin/env bash
# An OpenAI-compatible server around the in-process Transformers model (`rag models serve`).
#
#   deploy/transformers/launch.sh [--dry-run] [--env-file F] [-- FLAGS]
#
# For a machine with no serving engine: one request at a time, CPU or GPU as torch finds it.
# Without any server at all, leave RAG_LLM_URL empty and `rag ask` runs the model in-process.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
parse_args "$@"
load_env "${ENV_FILE:-$here/transformers.env}"
cmd=("${RAG_BIN:-rag}" models serve --host "$TRANSFORMERS_HOST" --port "$TRANSFORMERS_PORT")
[ -z "${TRANSFORMERS_MODEL:-}" ] || cmd+=(--model "$TRANSFORMERS_MODEL")
[ -z "${TRANSFORMERS_MODEL_NAME:-}" ] || cmd+=(--name "$TRANSFORMERS_MODEL_NAME")
run RAG_DATA_DIR OMP_NUM_THREADS -- "${cmd[@]}" "${EXTRA_ARGS[@]}"
