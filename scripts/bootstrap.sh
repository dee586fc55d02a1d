#!/usr/bin/env bash
# Makes a fresh clone runnable: Debian packages the demo and tests start, node_modules, the Temporal CLI.
# Idempotent and quick when everything is already there (runs before `npm start` and `npm test`).
set -euo pipefail
cd "$(dirname "$0")/.."

# binary -> Debian package
declare -A PKG_FOR=(
  [haproxy]=haproxy [redis-server]=redis-server [nats-server]=nats-server
  [rabbitmq-server]=rabbitmq-server [prometheus]=prometheus [openssl]=openssl
  [prometheus-alertmanager]=prometheus-alertmanager [chromium]=chromium
)
missing=()
for bin in "${!PKG_FOR[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("${PKG_FOR[$bin]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node_modules matching package-lock.json (npm ci only when the lock changed).
stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi

bash scripts/temporal-cli.sh >/dev/null
