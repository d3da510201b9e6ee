#!/usr/bin/env bash
# Makes sure a Chromium the browser tests can drive is installed: Debian's `chromium` package, through
# apt-get (with sudo when not root). Does nothing when one is already there. Exits non-zero when none
# is installed and it could not install one.
set -euo pipefail

for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    echo "Chromium: $candidate"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null; then
  echo "Chromium is not installed and apt-get is not available: install Chromium and set CHROMIUM_PATH" >&2
  exit 1
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
  # Without a terminal (the test runner) sudo must not wait for a password nobody can type.
  if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
fi
echo "Installing Chromium (Debian package chromium) for the browser tests"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y --no-install-recommends chromium; then
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y --no-install-recommends chromium
fi
if [[ ! -x /usr/bin/chromium ]]; then
  echo "apt-get ran but /usr/bin/chromium is not an executable" >&2
  exit 1
fi
echo "Chromium: /usr/bin/chromium"
