#!/usr/bin/env bash
# Xinference's local supervisor and worker; then launch-model.sh starts a model in it.
#
#   deploy/xinference/launch.sh [--dry-run] [--env-file F] [-- FLAGS]
#
# Clients use http://HOST:9997/v1 once a model is launched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
parse_args "$@"
load_env "${ENV_FILE:-$here/xinference.env}"
run XINFERENCE_HOME XINFERENCE_MODEL_SRC -- \
  xinference-local --host "$XINFERENCE_HOST" --port "$XINFERENCE_PORT" "${EXTRA_ARGS[@]}"
