#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for tests and local runs, and stops it again.
#
#   scripts/start-postgres.sh [--url-file FILE]   start; prints the postgresql:// URL on the last line
#   scripts/start-postgres.sh --stop URL|DIR      stop that server and delete its directory
#
# The server lives in a fresh temp directory (data, log, unix socket), listens on a free loopback port
# only, and trusts every local connection: never point anything but tests at it. It runs as the
# `postgres` user when started by root (initdb and pg_ctl refuse to run as root). It does not install
# PostgreSQL: without server binaries under /usr/lib/postgresql it says so and exits 2 (.ci/run installs
# Debian's `postgresql` package).
set -euo pipefail

find_bindir() {
  local dir
  if [[ -n "${PG_BINDIR:-}" ]]; then
    [[ -x "$PG_BINDIR/initdb" && -x "$PG_BINDIR/pg_ctl" ]] && { echo "$PG_BINDIR"; return 0; }
    return 1
  fi
  # Newest version first.
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

# Runs a server binary as the owner of the data directory.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

stop() {
  local dir="$1" candidate
  if [[ "$dir" == postgresql://* ]]; then
    for candidate in "${TMPDIR:-/tmp}"/status-tracker-pg.*; do
      if [[ -f "$candidate/url" && "$(cat "$candidate/url")" == "$1" ]]; then
        dir="$candidate"
        break
      fi
    done
  fi
  if [[ ! -f "$dir/postgres-test-server" ]]; then
    echo "$dir was not made by $0; not touching it" >&2
    exit 2
  fi
  local bindir
  bindir="$(cat "$dir/bindir")"
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    PG_OS_USER="$(stat -c %U "$dir/data")"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
  fi
  rm -rf "$dir"
}

start() {
  local url_file="$1"
  local bindir
  if ! bindir="$(find_bindir)"; then
    echo "PostgreSQL server binaries not found (no initdb/pg_ctl under /usr/lib/postgresql/*/bin;" \
      "set PG_BINDIR, or install Debian's postgresql package)" >&2
    exit 2
  fi

  PG_OS_USER=postgres
  if [[ "$(id -u)" == 0 ]] && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    echo "running as root but there is no '$PG_OS_USER' user to run the server as" >&2
    exit 2
  fi

  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/status-tracker-pg.XXXXXX")"
  touch "$dir/postgres-test-server"
  echo "$bindir" >"$dir/bindir"
  chmod 755 "$dir"
  [[ "$(id -u)" == 0 ]] && chown -R "$PG_OS_USER" "$dir"

  if ! as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    exit 1
  fi
  # Loopback and the socket in $dir only; trust is fine for a server nobody else can reach.
  cat >"$dir/data/pg_hba.conf" <<'EOF'
local all all trust
host  all all 127.0.0.1/32 trust
EOF

  local port started=0
  for _ in 1 2 3 4 5; do
    port="$(free_port)"
    # fsync off: the data is thrown away, and tests run several times faster.
    if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start -o \
      "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      >/dev/null 2>&1; then
      started=1
      break
    fi
    # Most likely someone took the port between our probe and the server's bind: try another.
  done
  if [[ "$started" != 1 ]]; then
    echo "PostgreSQL did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    rm -rf "$dir"
    exit 1
  fi

  local url="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "$url" >"$dir/url"
  [[ -n "$url_file" ]] && echo "$url" >"$url_file"
  echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') running in $dir (stop: $0 --stop $dir)" >&2
  echo "$url"
}

url_file=""
case "${1:-}" in
  --stop)
    [[ -n "${2:-}" ]] || { echo "usage: $0 --stop URL|DIR" >&2; exit 2; }
    stop "$2"
    ;;
  --url-file)
    [[ -n "${2:-}" ]] || { echo "usage: $0 --url-file FILE" >&2; exit 2; }
    url_file="$2"
    start "$url_file"
    ;;
  "")
    start ""
    ;;
  *)
    echo "usage: $0 [--url-file FILE] | --stop URL|DIR" >&2
    exit 2
    ;;
esac
