#!/usr/bin/env bash
# Ollama's server, with a context window long enough for RAG prompts.
#
#   deploy/ollama/launch.sh [--dry-run] [--env-file F] [-- FLAGS]
#
# Then, once: deploy/ollama/create-model.sh (builds the model with num_ctx from the Modelfile).
# Clients use the OpenAI endpoint at http://HOST:11434/v1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
parse_args "$@"
load_env "${ENV_FILE:-$here/ollama.env}"
run OLLAMA_HOST OLLAMA_MODELS OLLAMA_KEEP_ALIVE OLLAMA_CONTEXT_LENGTH OLLAMA_NUM_PARALLEL -- \
  ollama serve "${EXTRA_ARGS[@]}"
