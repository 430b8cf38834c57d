#!/usr/bin/env bash
# Two PostgreSQL roles for production: an owner that runs migrations and owns every table, and the
# application's role (web, workers, beat) that reads and writes rows but cannot rewrite the append-only
# tables (the points ledger, the consent events): no UPDATE, DELETE or TRUNCATE there, and no ALTER TABLE,
# DISABLE TRIGGER or DROP TRIGGER anywhere, since it owns nothing.
#
#   bash scripts/db_roles.sh [options] DATABASE_URL
#
# DATABASE_URL is a superuser's (or, to re-run after a migration, the owner's) connection to the programme's
# database, e.g. postgres://postgres@db.internal/loyalty. Independent of the migrations: it reads the schema
# as it is. Idempotent and cheap: run it after every `manage.py migrate` (a new append-only table needs its
# revoke, and its grants are checked). Exits non-zero, changing nothing, if the result would not hold.
#
# Options:
#   --owner NAME            the owning role (default loyalty_owner); created with LOGIN unless --owner-nologin
#   --app NAME              the application's role (default loyalty_app); created with LOGIN
#   --owner-nologin         create the owner without LOGIN (migrate then connects as a member that SETs ROLE)
#   --transfer-ownership    make the owner own the database and every table, sequence, view and function of
#                           the schema (needed once, when the tables were created by another role)
#   --schema NAME           the schema Django uses (default public)
#
# Passwords, if wanted, come from the environment (never the command line, which `ps` shows):
#   DB_OWNER_PASSWORD, DB_APP_PASSWORD   set (or reset) the role's password when given.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

OWNER=loyalty_owner
APP=loyalty_app
OWNER_LOGIN=LOGIN
TRANSFER=0
SCHEMA=public
URL=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --owner) OWNER="${2:?--owner needs a name}"; shift 2 ;;
        --app) APP="${2:?--app needs a name}"; shift 2 ;;
        --owner-nologin) OWNER_LOGIN=NOLOGIN; shift ;;
        --transfer-ownership) TRANSFER=1; shift ;;
        --schema) SCHEMA="${2:?--schema needs a name}"; shift 2 ;;
        -h | --help) usage ;;
        -*) printf 'unknown option: %s\n' "$1" >&2; usage ;;
        *) [ -z "$URL" ] || usage; URL="$1"; shift ;;
    esac
done
[ -n "$URL" ] || usage
[ "$OWNER" != "$APP" ] || { echo "error: the owner and the application's role must differ" >&2; exit 2; }

PSQL="${PSQL:-}"
if [ -z "$PSQL" ]; then
    PSQL="$(command -v psql || true)"
    [ -n "$PSQL" ] || PSQL="$(ls -1d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$PSQL" ] || { echo "error: psql not found (set PSQL=/path/to/psql)" >&2; exit 1; }
fi

# A SQL string literal; the passwords go to psql on standard input, not in its arguments.
literal() { printf "'%s'" "${1//\'/\'\'}"; }
set_password() {
    local role="$1" value="$2"
    [ -n "$value" ] || return 0
    printf "SELECT format('ALTER ROLE %%I PASSWORD %%L', :'%s', %s) \\gexec\n" "$role" "$(literal "$value")"
}

# One transaction: either every statement holds or nothing changed.
"$PSQL" "$URL" -X -q -v ON_ERROR_STOP=1 --single-transaction \
    -v owner="$OWNER" -v app="$APP" -v owner_login="$OWNER_LOGIN" -v schema="$SCHEMA" -v transfer="$TRANSFER" \
    -f - <<SQL
\set QUIET on
SET client_min_messages = warning;

-- 1. The roles. Attributes are changed only where they differ, so the owner can re-run this without CREATEROLE.
SELECT format('CREATE ROLE %I %s', :'owner', :'owner_login')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
SELECT format('ALTER ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS LOGIN', :'app')
FROM pg_roles WHERE rolname = :'app'
  AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls OR NOT rolcanlogin) \gexec
SELECT format('ALTER ROLE %I %s', :'owner', :'owner_login')
FROM pg_roles WHERE rolname = :'owner' AND rolcanlogin <> (:'owner_login' = 'LOGIN') \gexec
$(set_password owner "${DB_OWNER_PASSWORD:-}")
$(set_password app "${DB_APP_PASSWORD:-}")
-- The application's role must not inherit anything from a role that owns or may more than it.
SELECT format('REVOKE %I FROM %I', r.rolname, :'app')
FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
WHERE u.rolname = :'app' \gexec

-- 2. Ownership, when asked: the database, and every relation and function of the schema.
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'owner')
WHERE :transfer = 1 \gexec
SELECT format('ALTER TABLE %I.%I OWNER TO %I', n.nspname, c.relname, :'owner')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE :transfer = 1 AND n.nspname = :'schema' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND pg_get_userbyid(c.relowner) <> :'owner' \gexec
-- Sequences of serial and identity columns moved with their tables; any others go now.
SELECT format('ALTER SEQUENCE %I.%I OWNER TO %I', n.nspname, c.relname, :'owner')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE :transfer = 1 AND n.nspname = :'schema' AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) <> :'owner'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) \gexec
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, :'owner')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE :transfer = 1 AND n.nspname = :'schema' AND pg_get_userbyid(p.proowner) <> :'owner' \gexec

-- 3. The schema: the owner creates in it, the application only uses it.
SELECT format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC, %I', :'schema', :'app') \gexec
SELECT format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', :'schema', :'owner') \gexec
SELECT format('GRANT USAGE ON SCHEMA %I TO %I', :'schema', :'app') \gexec
-- TEMPORARY: the batch posting writes its account updates through a session-local table.
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), :'app') \gexec

-- 4. Rows: read and write everything, then take back what the application never needs.
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', :'schema', :'app') \gexec
SELECT format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO %I', :'schema', :'app') \gexec
SELECT format('REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA %I FROM %I', :'schema', :'app') \gexec
-- Only migrate writes the migration history.
SELECT format('REVOKE INSERT, UPDATE, DELETE ON %I.django_migrations FROM %I', :'schema', :'app')
WHERE to_regclass(format('%I.django_migrations', :'schema')) IS NOT NULL \gexec

-- 5. The append-only tables: every table with loyalty_site.append_only's trigger (<table>_no_update_delete),
--    and the two known ones even if someone dropped their trigger. INSERT and SELECT only, for everyone.
CREATE TEMPORARY TABLE db_roles_append_only ON COMMIT DROP AS
SELECT DISTINCT c.oid::regclass AS tbl
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relkind IN ('r', 'p')
  AND (c.relname IN ('rewards_ledgerentry', 'members_consentevent')
       OR EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = c.relname || '_no_update_delete'));
SELECT format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM PUBLIC, %I', tbl, :'app') FROM db_roles_append_only \gexec

-- 6. Tables and sequences the owner creates later (the next migrations) get the same grants at once; a new
--    append-only table gets its revoke when this script is run again after the migration.
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
              :'owner', :'schema', :'app') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I',
              :'owner', :'schema', :'app') \gexec

-- 7. Check the result; any problem rolls everything back.
CREATE TEMPORARY TABLE db_roles_problems (problem text) ON COMMIT DROP;
INSERT INTO db_roles_problems
SELECT format('%s objects of schema %s are owned by another role than %s (%s, ...): run again with --transfer-ownership',
              count(*), :'schema', :'owner', string_agg(c.relname || ' (' || pg_get_userbyid(c.relowner) || ')', ', '
                                                      ORDER BY c.relname) FILTER (WHERE c.relkind = 'r'))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND pg_get_userbyid(c.relowner) <> :'owner'
HAVING count(*) > 0;
INSERT INTO db_roles_problems
SELECT format('%s owns the database (run again with --transfer-ownership)', :'app')
FROM pg_database WHERE datname = current_database() AND pg_get_userbyid(datdba) = :'app';
INSERT INTO db_roles_problems
SELECT format('%s may still %s %s', :'app', privilege, tbl)
FROM db_roles_append_only, unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']) AS privilege
WHERE has_table_privilege(:'app', tbl, privilege);
INSERT INTO db_roles_problems
SELECT format('%s may create objects in schema %s', :'app', :'schema')
WHERE has_schema_privilege(:'app', :'schema', 'CREATE');
INSERT INTO db_roles_problems
SELECT format('%s is a superuser or may bypass row security', :'app')
FROM pg_roles WHERE rolname = :'app' AND (rolsuper OR rolbypassrls);
INSERT INTO db_roles_problems
SELECT 'no append-only table found: is this the programme''s migrated database?'
WHERE NOT EXISTS (SELECT FROM db_roles_append_only);
\pset format unaligned
\pset tuples_only on
SELECT 'error: ' || problem FROM db_roles_problems;
SELECT count(*) = 0 AS ok FROM db_roles_problems \gset
\if :ok
SELECT format('ok: %s owns the schema objects; %s reads and writes rows; append-only (insert and select only): %s',
              :'owner', :'app', string_agg(tbl::text, ', ' ORDER BY tbl::text))
FROM db_roles_append_only;
\else
DO 'BEGIN RAISE EXCEPTION ''db_roles.sh: the roles would not hold (above); nothing was changed''; END';
\endif
SQL
