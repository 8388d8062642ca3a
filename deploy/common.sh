# Sourced by every deploy/*/launch.sh: settings from an env file, then run the command, or print it.
#
#   launch.sh [--dry-run] [--env-file FILE] [--profile NAME] [-- EXTRA SERVER FLAGS...]
#
# The env file gives defaults: a variable already set in the environment wins, so
# `PORT=8001 deploy/vllm/launch.sh` needs no edited copy. Lines are KEY=VALUE, taken literally
# (no quotes, no expansion), the way docker compose reads an env_file; an empty value leaves the
# variable unset.
# --dry-run prints the exact command line, shell-quoted, and the environment it would set; the
# tests compare it with the flags each README documents.

DRY_RUN=${DRY_RUN:-0}
PROFILE=${PROFILE:-}
ENV_FILE=${ENV_FILE:-}
EXTRA_ARGS=()

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      --env-file) ENV_FILE=$2; shift ;;
      --profile) PROFILE=$2; shift ;;
      --) shift; EXTRA_ARGS=("$@"); return ;;
      -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
      *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
}

load_env() {
  local file=$1 line key
  local -A from_file=()
  local -a order=()
  [ -f "$file" ] || { echo "no env file at $file" >&2; exit 2; }
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || continue
    key=${line%%=*}
    [ -n "${from_file[$key]+set}" ] || order+=("$key")
    from_file[$key]=${line#*=}  # a later line wins, as in docker compose
  done < "$file"
  for key in "${order[@]}"; do
    # an empty value means "not set": exported empty, OMP_NUM_THREADS= breaks libgomp
    [ -n "${!key+set}" ] || [ -z "${from_file[$key]}" ] || export "$key=${from_file[$key]}"
  done
}

# run VAR... -- COMMAND...: exec the command; with --dry-run print the named variables and it
run() {
  local shown=()
  while [ "$1" != "--" ]; do shown+=("$1"); shift; done
  shift
  if [ "$DRY_RUN" = 1 ]; then
    local name
    for name in "${shown[@]}"; do
      [ -n "${!name:-}" ] && printf 'export %s=%q\n' "$name" "${!name}"
    done
    printf '%q' "$1"; shift
    printf ' %q' "$@"
    printf '\n'
  else
    exec "$@"
  fi
}
