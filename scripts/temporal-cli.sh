#!/usr/bin/env bash
# Prints the path of a `temporal` CLI: one on PATH, else a cached build from Go modules.
# --check: only say whether there is one; never build.
# The build goes to a cache outside the repo, keyed by tag, so later runs take no time.
set -euo pipefail

TAG="${TEMPORAL_CLI_TAG:-v1.8.2}"
# Pseudo-version of the nested cliext module at the same commit as $TAG (cli's go.mod replaces it with ./cliext).
declare -A CLIEXT_FOR=(
  [v1.8.2]=v0.0.0-20260731000218-c579925f193f
  [v1.8.1]=v0.0.0-20260714151737-d904a0d53bff
  [v1.8.0]=v0.0.0-20260709163829-64f5072ebda1
)
CACHE="${FAILOVER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/failover-manager}"
BIN="$CACHE/temporal-$TAG/temporal"

if [ -z "${TEMPORAL_CLI_FORCE_BUILD:-}" ] && command -v temporal >/dev/null 2>&1; then
  command -v temporal; exit 0
fi
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
if [ "${1:-}" = "--check" ]; then
  echo "temporal-cli: no 'temporal' on PATH and none built in $CACHE yet; npm start or npm test builds it from Go modules (minutes, once): bash scripts/temporal-cli.sh" >&2
  exit 1
fi

if ! command -v go >/dev/null 2>&1; then
  echo "temporal-cli: no 'temporal' on PATH and no Go toolchain to build it." >&2
  echo "Install Go >= 1.26 (https://go.dev/doc/install, or 'apt-get install golang' if new enough)," >&2
  echo "or put the Temporal CLI $TAG on PATH." >&2
  exit 1
fi
CLIEXT="${CLIEXT_FOR[$TAG]:-}"
if [ -z "$CLIEXT" ]; then
  echo "temporal-cli: no cliext pseudo-version known for $TAG; find it with" >&2
  echo "  go list -m github.com/temporalio/cli/cliext@<commit of $TAG>" >&2
  exit 1
fi

started=$(date +%s)
WORK="$CACHE/build-$TAG"
rm -rf "$WORK"; mkdir -p "$WORK" "$(dirname "$BIN")"
(
  cd "$WORK"
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
  go mod init local/temporal-build >/dev/null 2>&1
  go mod edit -replace=github.com/temporalio/cli/cliext=github.com/temporalio/cli/cliext@"$CLIEXT"
  go get -tool github.com/temporalio/cli/cmd/temporal@"$TAG" >&2
  go build -trimpath -ldflags "-s -w" -o "$BIN.tmp" github.com/temporalio/cli/cmd/temporal >&2
)
mv "$BIN.tmp" "$BIN"
rm -rf "$WORK"
echo "temporal-cli: built $TAG in $(( $(date +%s) - started ))s -> $BIN" >&2
echo "$BIN"
