#!/usr/bin/env bash
# Makes sure a redis-server is installed for the bench's BullMQ peer: Debian's `redis-server` package,
# through apt-get (with sudo when not root). Does nothing when one is already there. Exits non-zero
# when none is installed and it could not install one.
set -euo pipefail

for candidate in "${REDIS_SERVER:-}" /usr/bin/redis-server; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    echo "redis-server: $candidate"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null; then
  echo "redis-server is not installed and apt-get is not available: install Redis and set REDIS_SERVER" >&2
  exit 1
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
fi
echo "Installing Redis (Debian package redis-server) for the bench's BullMQ peer"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y --no-install-recommends redis-server; then
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y --no-install-recommends redis-server
fi
if [[ ! -x /usr/bin/redis-server ]]; then
  echo "apt-get ran but /usr/bin/redis-server is not an executable" >&2
  exit 1
fi
echo "redis-server: /usr/bin/redis-server"
