#!/usr/bin/env bash
# The one-command demo: bash scripts/demo.sh
#
# On a fresh Debian machine with Python 3.11: creates .venv and installs requirements.txt, migrates the
# SQLite database (db.sqlite3), loads demo data on the first run, starts a Celery worker with the beat
# scheduler on the filesystem broker (var/broker, no server needed) and the web app, checks both answer,
# prints the URLs and logins and stays in the foreground. Ctrl-C stops the web app and the worker.
#
# Environment (all optional):
#   PORT=8000            the web app's port
#   HOST=127.0.0.1       the address it listens on; HOST=0.0.0.0 to reach the demo from other machines
#   DEMO_MEMBERS=3000    demo data size, used on the first run only (an empty database)
#   DEMO_PURCHASES=30000
#   DATABASE_URL, CELERY_BROKER_URL  as in docs/configuration.md; the defaults are SQLite and filesystem://
# To start again from scratch: stop the demo, delete db.sqlite3 and run this script again.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

PORT="${PORT:-8000}"
HOST="${HOST:-127.0.0.1}"
VENV="$REPO_ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.requirements.stamp"
LOG_DIR="$REPO_ROOT/var/log"
WORKER_LOG="$LOG_DIR/worker.log"
WEB_LOG="$LOG_DIR/web.log"

# Demo only: DEBUG gives the insecure development key and plain-HTTP cookies. Never in production.
export DEBUG=1
export DJANGO_SETTINGS_MODULE=loyalty_site.settings
export PYTHONUNBUFFERED=1
if [ "$HOST" != "127.0.0.1" ] && [ "$HOST" != "localhost" ]; then
    export ALLOWED_HOSTS="${ALLOWED_HOSTS:-*}"
fi

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

# --- Python environment ------------------------------------------------------------------------

ensure_venv() {
    local base_py
    base_py="$(command -v python3.11 || command -v python3 || true)"
    [ -n "$base_py" ] || die "python3.11 (or python3) not found; install it with: apt-get install python3"
    "$base_py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$base_py is older than Python 3.11"
    if [ ! -x "$PY" ]; then
        log "creating .venv with $base_py"
        rm -rf "$VENV"
        if ! "$base_py" -m venv "$VENV" 2>/dev/null; then
            # Debian ships venv's pip bootstrap separately (python3-venv).
            rm -rf "$VENV"
            command -v apt-get >/dev/null 2>&1 || die "could not create .venv (install python3-venv)"
            local version
            version="$("$base_py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            log "installing the Debian package python${version}-venv"
            as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "python${version}-venv" \
                || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
            "$base_py" -m venv "$VENV" || die "could not create .venv"
        fi
        rm -f "$STAMP"
    fi
    # The stamp holds the hash of the requirements installed (the same stamp scripts/test.sh keeps).
    local want
    want="$(sha256sum requirements.txt | cut -d' ' -f1)"
    if [ ! -f "$STAMP" ] || { [ requirements.txt -nt "$STAMP" ] && [ "$(cat "$STAMP")" != "$want" ]; }; then
        log "installing requirements.txt into .venv (a few minutes the first time)"
        "$PY" -m pip install --disable-pip-version-check -q --upgrade pip
        "$PY" -m pip install --disable-pip-version-check -q -r requirements.txt || die "pip install failed"
        printf '%s\n' "$want" >"$STAMP"
    else
        log ".venv is up to date with requirements.txt"
    fi
}

# --- Processes -----------------------------------------------------------------------------------

WEB_PID=""
WORKER_PID=""

# Each server runs in its own session (setsid): Ctrl-C in the terminal reaches only this script, which then
# stops them in order. SIGTERM to the main process is a clean stop (Celery finishes its current tasks and
# stops its pool and beat); the whole process group gets SIGTERM, then SIGKILL, only if it does not exit.
stop_group() {
    local pid="$1" name="$2" waited=0
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    log "stopping $name"
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 40 ]; do
        sleep 0.5
        waited=$((waited + 1))
        [ "$waited" -eq 30 ] && kill -TERM -- "-$pid" 2>/dev/null
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    # Anything the server left in its group (a pool process that lost its parent) goes too.
    kill -KILL -- "-$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    stop_group "$WEB_PID" "the web app"
    stop_group "$WORKER_PID" "the Celery worker"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

manage() { "$PY" manage.py "$@"; }

port_busy() {
    "$PY" - "$HOST" "$PORT" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
host = "127.0.0.1" if sys.argv[1] in ("0.0.0.0", "localhost") else sys.argv[1]
sys.exit(0 if s.connect_ex((host, int(sys.argv[2]))) == 0 else 1)
PY
}

answers() {
    "$PY" - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

# --- Go ------------------------------------------------------------------------------------------

ensure_venv
mkdir -p "$LOG_DIR"
if port_busy; then
    die "port $PORT is in use; stop what uses it or run with PORT=<another port>"
fi

log "migrating the database"
manage migrate --noinput -v 0

if manage shell -v 0 -c 'import sys; from members.models import Member; sys.exit(1 if Member.objects.exists() else 0)'; then
    log "loading demo data (${DEMO_MEMBERS:-3000} members, ${DEMO_PURCHASES:-30000} purchases; under a minute)"
    manage demo_seed --members "${DEMO_MEMBERS:-3000}" --purchases "${DEMO_PURCHASES:-30000}"
else
    log "the database already has members: demo data not loaded again (delete db.sqlite3 to start over)"
fi

log "starting the Celery worker with beat (log: var/log/worker.log)"
setsid "$VENV/bin/celery" -A loyalty_site worker -B -Q celery,files --loglevel=info --concurrency=2 \
    --schedule="$REPO_ROOT/var/celerybeat-schedule" >"$WORKER_LOG" 2>&1 </dev/null &
WORKER_PID=$!

log "starting the web app on http://$HOST:$PORT/ (log: var/log/web.log)"
setsid "$PY" manage.py runserver --noreload "$HOST:$PORT" >"$WEB_LOG" 2>&1 </dev/null &
WEB_PID=$!

BASE="http://127.0.0.1:$PORT"
[ "$HOST" = "127.0.0.1" ] || [ "$HOST" = "0.0.0.0" ] || BASE="http://$HOST:$PORT"
for _ in $(seq 1 60); do
    answers "$BASE/healthz" && break
    kill -0 "$WEB_PID" 2>/dev/null || die "the web app stopped; see var/log/web.log"
    sleep 1
done
answers "$BASE/healthz" || die "the web app does not answer on $BASE/healthz; see var/log/web.log"

# Send the worker a task and wait until it has run it: the broker folder and the worker work.
log "checking the worker takes tasks"
sent="$(manage shell -v 0 -c 'from rewards.tasks import points_release_pending_task as task; task.delay()' 2>&1)" \
    || die "could not send a task to the broker: $sent"
worker_ok=""
for _ in $(seq 1 60); do
    if grep -q "points_release_pending_task\[.*\] succeeded" "$WORKER_LOG" 2>/dev/null; then
        worker_ok=1
        break
    fi
    kill -0 "$WORKER_PID" 2>/dev/null || die "the Celery worker stopped; see var/log/worker.log"
    sleep 1
done
[ -n "$worker_ok" ] || log "warning: the worker has not run the test task within 60 s; see var/log/worker.log"

SHOWN="http://localhost:$PORT"
[ "$HOST" = "127.0.0.1" ] || [ "$HOST" = "0.0.0.0" ] || SHOWN="$BASE"
cat <<EOF

  The loyalty programme demo is running.

    Member portal:  $SHOWN/          login: member / member-demo-2026
    Staff admin:    $SHOWN/admin/    login: admin  / admin-demo-2026
    Celery worker:  ${worker_ok:+running, took a test task; }log var/log/worker.log
    Web log:        var/log/web.log

  Press Ctrl-C to stop.

EOF

# Stay in the foreground until the web app stops or Ctrl-C.
set +e
wait "$WEB_PID"
rc=$?
set -e
[ "$rc" -ge 128 ] || log "the web app stopped (exit code $rc); see var/log/web.log"
exit "$rc"
