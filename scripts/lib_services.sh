# shellcheck shell=bash
# Helpers for scripts/test.sh: a Python venv, the Debian packages the tests need, and a throwaway
# PostgreSQL and Redis on free ports in a fresh temporary folder. Source this file; don't run it.
#
# Globals set here (read by test.sh and by services_stop):
#   REPO_ROOT     repository root (set by the caller before sourcing)
#   VENV_PY       the venv's python
#   TEST_TMP      the temporary folder of this run (deleted by services_stop)
#   PG_BIN PG_USER PG_DATA PG_SOCK PG_PORT
#   REDIS_PORT REDIS_PID_FILE

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

# ---------------------------------------------------------------------------------------------
# Python virtual environment
# ---------------------------------------------------------------------------------------------
ensure_venv() {
    local venv="$REPO_ROOT/.venv" req="$REPO_ROOT/requirements.txt"
    local stamp="$venv/.requirements.stamp"
    VENV_PY="$venv/bin/python"

    if [ ! -x "$VENV_PY" ]; then
        local base_py
        base_py="$(command -v python3.11 || command -v python3 || true)"
        [ -n "$base_py" ] || die "python3.11 (or python3) not found"
        log "creating virtualenv .venv with $base_py"
        rm -rf "$venv"
        "$base_py" -m venv "$venv" || die "could not create .venv (is the python3-venv package installed?)"
        rm -f "$stamp"
    fi

    [ -f "$req" ] || die "requirements.txt not found in $REPO_ROOT"
    local want_hash
    want_hash="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || { [ "$req" -nt "$stamp" ] && [ "$(cat "$stamp")" != "$want_hash" ]; }; then
        log "installing requirements.txt into .venv"
        "$VENV_PY" -m pip install --disable-pip-version-check -q -r "$req" || die "pip install failed"
        printf '%s\n' "$want_hash" >"$stamp"
    else
        touch "$stamp"
    fi
}

# ---------------------------------------------------------------------------------------------
# Debian packages: postgresql, redis-server, chromium (installed only when missing)
# ---------------------------------------------------------------------------------------------
find_pg_bin() {
    # Newest installed major version: /usr/lib/postgresql/<N>/bin
    local dir best="" best_ver=-1 ver
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] || continue
        ver="${dir#/usr/lib/postgresql/}"
        ver="${ver%%/*}"
        ver="${ver%%.*}"
        case "$ver" in '' | *[!0-9]*) continue ;; esac
        if [ "$ver" -gt "$best_ver" ]; then
            best_ver="$ver"
            best="$dir"
        fi
    done
    printf '%s' "$best"
}

ensure_system_packages() {
    local missing=()
    [ -n "$(find_pg_bin)" ] || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ "${#missing[@]}" -eq 0 ] && return 0

    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update || die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed"
}

# ---------------------------------------------------------------------------------------------
# Temporary folder, free ports, users
# ---------------------------------------------------------------------------------------------
free_port() {
    # Ask the kernel for a free TCP port on 127.0.0.1.
    "$VENV_PY" - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

make_test_tmp() {
    # Under /tmp (not $TMPDIR) so the unprivileged PostgreSQL user can always reach it and the
    # socket path stays short.
    TEST_TMP="$(mktemp -d /tmp/loyalty-test.XXXXXXXX)" || die "mktemp failed"
    chmod 755 "$TEST_TMP"
}

# Run a command as the PostgreSQL user (PostgreSQL refuses to run as root).
as_pg_user() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$PG_USER" -- "$@"
    else
        su -s /bin/sh "$PG_USER" -c "$(printf '%q ' "$@")"
    fi
}

pick_pg_user() {
    if [ "$(id -u)" -ne 0 ]; then
        PG_USER="$(id -un)"
    elif getent passwd postgres >/dev/null 2>&1; then
        PG_USER=postgres
    else
        PG_USER=loyaltytest
        if ! getent passwd "$PG_USER" >/dev/null 2>&1; then
            log "creating system user $PG_USER to run PostgreSQL"
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER" \
                || die "useradd $PG_USER failed"
        fi
    fi
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
pg_start() {
    PG_BIN="$(find_pg_bin)"
    [ -n "$PG_BIN" ] || die "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin"
    pick_pg_user

    local pg_root="$TEST_TMP/pg"
    PG_DATA="$pg_root/data"
    PG_SOCK="$pg_root/sock"
    mkdir -p "$pg_root" "$PG_SOCK"
    chown -R "$PG_USER" "$pg_root"
    chmod 700 "$pg_root"

    # initdb/pg_ctl run from the temp folder: the unprivileged user may not be able to enter $PWD.
    local initdb_log="$pg_root/initdb.log"
    if ! (cd "$pg_root" && as_pg_user "$PG_BIN/initdb" -D "$PG_DATA" --no-sync --auth=trust -U loyalty \
        --encoding=UTF8 --locale=C.UTF-8) >"$initdb_log" 2>&1; then
        log "initdb with --locale=C.UTF-8 failed; retrying with --no-locale"
        rm -rf "$PG_DATA"
        if ! (cd "$pg_root" && as_pg_user "$PG_BIN/initdb" -D "$PG_DATA" --no-sync --auth=trust -U loyalty \
            --encoding=UTF8 --no-locale) >"$initdb_log" 2>&1; then
            cat "$initdb_log" >&2
            die "initdb failed"
        fi
    fi

    cat >>"$PG_DATA/postgresql.conf" <<EOF

# --- throwaway test server (scripts/test.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_SOCK'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF

    local attempt
    for attempt in 1 2 3; do
        PG_PORT="$(free_port)"
        log "starting PostgreSQL on port $PG_PORT ($PG_BIN, user $PG_USER)"
        # setsid: a Ctrl-C in the terminal must not reach the server while pytest is still
        # tearing down; we stop it ourselves afterwards.
        if (cd "$pg_root" && as_pg_user setsid -w "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$pg_root/postgres.log" \
            -o "-p $PG_PORT" -w -t 60 start) </dev/null >/dev/null 2>&1; then
            break
        fi
        if [ "$attempt" -eq 3 ]; then
            tail -n 30 "$pg_root/postgres.log" >&2 || true
            die "PostgreSQL did not start"
        fi
        log "PostgreSQL did not start on port $PG_PORT; trying another port"
        (cd "$pg_root" && as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop) >/dev/null 2>&1 || true
    done

    local i
    for i in $(seq 1 60); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
        [ "$i" -eq 60 ] && die "PostgreSQL on port $PG_PORT is not ready"
        sleep 0.5
    done

    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U loyalty loyalty || die "createdb loyalty failed"
}

pg_stop() {
    [ -n "${PG_DATA:-}" ] && [ -d "$PG_DATA" ] || return 0
    local pid=""
    [ -f "$PG_DATA/postmaster.pid" ] && pid="$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
    (cd "$TEST_TMP" && as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 30 stop) >/dev/null 2>&1 || true
    if is_running "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait_gone "$pid"
}

# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------
redis_start() {
    local redis_dir="$TEST_TMP/redis"
    mkdir -p "$redis_dir"
    REDIS_PID_FILE="$redis_dir/redis.pid"

    local attempt i
    for attempt in 1 2 3; do
        REDIS_PORT="$(free_port)"
        log "starting Redis on port $REDIS_PORT"
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
            --dir "$redis_dir" --daemonize yes --pidfile "$REDIS_PID_FILE" \
            --logfile "$redis_dir/redis.log" </dev/null >/dev/null 2>&1 || true
        for i in $(seq 1 50); do
            [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
            sleep 0.1
        done
        redis_stop || true
        log "Redis did not answer on port $REDIS_PORT"
    done
    tail -n 30 "$redis_dir/redis.log" >&2 || true
    die "Redis did not start"
}

redis_stop() {
    [ -n "${REDIS_PORT:-}" ] || return 0
    local pid=""
    [ -f "${REDIS_PID_FILE:-}" ] && pid="$(cat "$REDIS_PID_FILE" 2>/dev/null || true)"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    if is_running "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait_gone "$pid"
}

# is_running PID: the process exists and is not a zombie (a daemon's exit status is collected by
# PID 1, which in some containers does that only every few seconds).
is_running() {
    local pid="$1" stat=""
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    if [ -r "/proc/$pid/stat" ]; then
        stat="$(cat "/proc/$pid/stat" 2>/dev/null || true)"
        stat="${stat##*) }"
        [ "${stat%% *}" != Z ] || return 1
    fi
    return 0
}

# wait_gone PID [SECONDS]: wait until a process has exited (default 10 s).
wait_gone() {
    local pid="$1" secs="${2:-10}" i
    [ -n "$pid" ] || return 0
    for i in $(seq 1 $((secs * 10))); do
        is_running "$pid" || return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Teardown: stop both servers and delete the temporary folder. Safe to call more than once.
# ---------------------------------------------------------------------------------------------
services_stop() {
    pg_stop
    redis_stop
    if [ -n "${TEST_TMP:-}" ] && [ -d "$TEST_TMP" ]; then
        rm -rf "$TEST_TMP"
    fi
    PG_DATA=""
    REDIS_PORT=""
    TEST_TMP=""
}
