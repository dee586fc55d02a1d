#!/usr/bin/env bash
# Makes a fresh clone runnable, for one command:
#   bootstrap.sh start   what `npm start` needs: redis-server and haproxy (the demo), node_modules, the Temporal CLI
#   bootstrap.sh test    what `npm test` needs: the above plus nats-server, rabbitmq-server, prometheus,
#                        prometheus-alertmanager, chromium and openssl (the suite runs them for real)
# As root, missing Debian packages are installed (apt-get). As anyone else nothing is installed
# system-wide: what is missing is named with the command that installs it, and the script fails
# only when something that command needs is missing. Quiet and quick when all is there.
# Options: --check  only report, install nothing (also node_modules and the Temporal CLI).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
check_only=""
[ "${2:-}" = "--check" ] && check_only=1
case "$mode" in
  start) command_name="npm start" ;;
  test) command_name="npm test" ;;
  *) echo "usage: bash scripts/bootstrap.sh start|test [--check]" >&2; exit 2 ;;
esac

# binary -> Debian package, and what it is for.
declare -A PKG_FOR=(
  [redis-server]=redis-server [haproxy]=haproxy [nats-server]=nats-server [rabbitmq-server]=rabbitmq-server
  [prometheus]=prometheus [prometheus-alertmanager]=prometheus-alertmanager [chromium]=chromium [openssl]=openssl
)
declare -A WHY=(
  [redis-server]="the demo's Redis primary and replica (and the tests' Redis)"
  [haproxy]="the router in front of them, switched by the runbooks"
  [nats-server]="NATS JetStream driver tests"
  [rabbitmq-server]="RabbitMQ driver tests"
  [prometheus]="Prometheus probe tests"
  [prometheus-alertmanager]="alert receiver tests"
  [chromium]="Web UI tests (a real browser)"
  [openssl]="HTTPS probe tests (self-signed certificates)"
)
start_bins=(redis-server haproxy)
test_bins=(redis-server haproxy nats-server rabbitmq-server prometheus prometheus-alertmanager chromium openssl)
if [ "$mode" = start ]; then bins=("${start_bins[@]}"); else bins=("${test_bins[@]}"); fi

# Where the packages' binaries are looked for (sbin too: haproxy lives there).
search="${BOOTSTRAP_SEARCH_PATH:-$PATH:/usr/sbin:/sbin}"
have() { PATH="$search" command -v "$1" >/dev/null 2>&1; }

problems=0
say() { echo "bootstrap ($command_name): $*" >&2; }

# Node itself: package.json says >= 20.19.
node_version=$(node -p 'process.versions.node' 2>/dev/null || echo 0.0.0)
IFS=. read -r node_major node_minor _ <<<"$node_version"
if [ "$node_major" -lt 20 ] || { [ "$node_major" -eq 20 ] && [ "$node_minor" -lt 19 ]; }; then
  say "Node.js $node_version is too old: 20.19 or newer is needed (https://nodejs.org, or your distribution's nodejs)"
  problems=1
fi

missing=()
for bin in "${bins[@]}"; do have "$bin" || missing+=("$bin"); done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=()
  for bin in "${missing[@]}"; do pkgs+=("${PKG_FOR[$bin]}"); done
  if [ "$(id -u)" -eq 0 ] && [ -z "$check_only" ]; then
    say "installing ${pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  else
    say "missing Debian packages:"
    for bin in "${missing[@]}"; do printf '  %-24s %s\n' "${PKG_FOR[$bin]}" "${WHY[$bin]}" >&2; done
    say "install them with:"
    echo "  sudo apt-get install -y ${pkgs[*]}" >&2
    [ "$mode" = start ] && say "(or run without the demo: npm start -- --no-demo --config YOUR.yaml)"
    problems=1
  fi
fi

# Once something is missing this command fails anyway: report the rest, do not spend minutes on it.
[ "$problems" -ne 0 ] && check_only=1

# node_modules matching package-lock.json (npm ci only when the lock changed); no root needed.
stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  if [ -n "$check_only" ]; then
    say "node_modules does not match package-lock.json: run npm ci"
    problems=1
  else
    say "npm ci"
    npm ci --no-audit --no-fund --loglevel=error >&2
    echo "$want" > "$stamp"
  fi
fi

# The Temporal CLI (the dev server): not needed by npm start when TEMPORAL_ADDRESS points elsewhere.
if [ "$mode" = test ] || [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  if [ -n "$check_only" ]; then
    bash scripts/temporal-cli.sh --check >/dev/null || problems=1
  else
    bash scripts/temporal-cli.sh >/dev/null || problems=1
  fi
fi

exit "$problems"
