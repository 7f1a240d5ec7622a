# shellcheck shell=bash
# Source this file (`source .ci/postgres.sh`) to get a throwaway PostgreSQL for the
# djinn-store tests. It exports DJINN_TEST_POSTGRES_URL.
#
# - If DJINN_TEST_POSTGRES_URL is already set, nothing happens.
# - Otherwise: install PostgreSQL from Debian packages if no server binaries are found,
#   init a data dir under /tmp (once), start the server on a free 127.0.0.1 port as the
#   `postgres` user (CI runs as root and postgres refuses to run as root), create the
#   database `djinn_test`, and export the URL.
# - Idempotent: a second `source` reuses the running server (port kept in the data dir).
#
# Stop it with: su postgres -c "pg_ctl -D $DJINN_PG_DATA stop" (or just let /tmp go).

_djinn_pg_setup() {
    if [ -n "${DJINN_TEST_POSTGRES_URL:-}" ]; then
        echo "postgres.sh: using existing DJINN_TEST_POSTGRES_URL" >&2
        return 0
    fi

    local bindir
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        echo "postgres.sh: installing PostgreSQL from Debian packages" >&2
        if [ "$(id -u)" -ne 0 ]; then
            echo "postgres.sh: need root to apt-get install postgresql" >&2
            return 1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            postgresql >&2 || return 1
        bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
        if [ -z "$bindir" ]; then
            echo "postgres.sh: PostgreSQL installed but no /usr/lib/postgresql/*/bin" >&2
            return 1
        fi
    fi

    local data="${DJINN_PG_DATA:-/tmp/djinn-pg-data}"
    local user=postgres
    # As root, run the server as `postgres`; as anyone else, as yourself.
    local run=()
    if [ "$(id -u)" -eq 0 ]; then
        if ! id "$user" >/dev/null 2>&1; then
            useradd --system --no-create-home --shell /usr/sbin/nologin "$user" || return 1
        fi
        run=(runuser -u "$user" --)
    else
        user=$(id -un)
    fi

    if [ ! -f "$data/PG_VERSION" ]; then
        mkdir -p "$data" || return 1
        [ "$(id -u)" -eq 0 ] && chown "$user" "$data"
        chmod 700 "$data"
        "${run[@]}" "$bindir/initdb" -D "$data" -U "$user" --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >"$data.initdb.log" 2>&1 || {
            echo "postgres.sh: initdb failed, see $data.initdb.log" >&2
            return 1
        }
    fi

    local port
    if "${run[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1 && [ -f "$data/djinn.port" ]; then
        port=$(cat "$data/djinn.port")
    else
        # A free port: ask the kernel for one.
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null)
        if [ -z "$port" ]; then
            port=$((20000 + RANDOM % 20000))
        fi
        echo "$port" >"$data/djinn.port"
        [ "$(id -u)" -eq 0 ] && chown "$user" "$data/djinn.port"
        # Sockets in the data dir, not /var/run/postgresql (may not exist or be root-owned).
        "${run[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
            -o "-p $port -h 127.0.0.1 -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >&2 || {
            echo "postgres.sh: server failed to start, see $data/server.log" >&2
            return 1
        }
    fi

    if ! "${run[@]}" "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'djinn_test'" | grep -q 1; then
        "${run[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$user" djinn_test || return 1
    fi

    export DJINN_PG_DATA="$data"
    export DJINN_TEST_POSTGRES_URL="postgres://$user@127.0.0.1:$port/djinn_test"
    echo "postgres.sh: DJINN_TEST_POSTGRES_URL=$DJINN_TEST_POSTGRES_URL" >&2
}

_djinn_pg_setup
_djinn_pg_status=$?
unset -f _djinn_pg_setup
# `return` works when sourced; fall back to exit when executed directly.
return "$_djinn_pg_status" 2>/dev/null || exit "$_djinn_pg_status"
