#!/usr/bin/env bash
# Run the full test suite: bash scripts/test.sh [pytest args]
#
# Prepares everything on a fresh Debian 12 machine (run as root): the .venv with requirements.txt,
# the Debian packages postgresql, redis-server and chromium, then starts a throwaway PostgreSQL and
# Redis on free ports in a fresh temporary folder, runs pytest against them and always removes them
# again (also when a test fails or the run is interrupted). Exits with pytest's exit code.
set -euo pipefail

# CI may start us with standard input closed; daemons (redis-server) crash without an fd 0.
{ true <&0; } 2>/dev/null || exec </dev/null

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# shellcheck source=scripts/lib_services.sh
. "$REPO_ROOT/scripts/lib_services.sh"

PYTEST_PID=""
TEST_TMP=""

# Stop pytest if it is still running (the script itself was signalled), giving it the chance to
# finish on its own first: a Ctrl-C in a terminal reaches pytest directly.
stop_pytest() {
    [ -n "$PYTEST_PID" ] || return 0
    if kill -0 "$PYTEST_PID" 2>/dev/null; then
        wait_gone "$PYTEST_PID" 3 || {
            log "stopping pytest"
            kill -INT "$PYTEST_PID" 2>/dev/null || true
            wait_gone "$PYTEST_PID" 15
        } || {
            kill -TERM "$PYTEST_PID" 2>/dev/null || true
            wait_gone "$PYTEST_PID" 5
        } || kill -KILL "$PYTEST_PID" 2>/dev/null || true
    fi
    wait "$PYTEST_PID" 2>/dev/null || true
    PYTEST_PID=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    stop_pytest
    if [ -n "$TEST_TMP" ]; then
        log "stopping PostgreSQL and Redis, removing $TEST_TMP"
        services_stop
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ensure_venv
ensure_system_packages

make_test_tmp
pg_start
redis_start

export DATABASE_URL="postgres://loyalty@127.0.0.1:$PG_PORT/loyalty"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export CELERY_BROKER_URL="$REDIS_URL"
export DJANGO_SETTINGS_MODULE=loyalty_site.settings
export CHROMIUM_PATH=/usr/bin/chromium
# The settings refuse to load without a SECRET_KEY (unless DEBUG); give the tests a throwaway one.
export SECRET_KEY="${SECRET_KEY:-insecure-test-only-secret-key-from-scripts-test-sh}"
# The servers are reached through the URLs above; don't let libpq pick up anything else.
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE 2>/dev/null || true

log "running pytest $*"
# pytest runs in the background so that a signal to this script is handled at once (bash delays
# traps until a foreground command ends). `trap -` restores Ctrl-C for it (background commands
# otherwise ignore SIGINT), and <&0 keeps its standard input (e.g. for --pdb).
set +e
(
    trap - INT QUIT
    exec "$VENV_PY" -m pytest "$@"
) <&0 &
PYTEST_PID=$!
wait "$PYTEST_PID"
rc=$?
PYTEST_PID=""
set -e

case "$rc" in
    0) log "tests passed" ;;
    5) log "pytest collected no tests: treating as a failure (exit 5)" ;;
    *) log "tests failed (pytest exit code $rc)" ;;
esac
exit "$rc"
