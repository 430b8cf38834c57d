"""scripts/db_roles.sh: connected as the application's role, the append-only tables take INSERT and SELECT and
refuse everything else (UPDATE, DELETE, TRUNCATE, ALTER TABLE, DISABLE and DROP TRIGGER), while everything the
application does (posting a purchase, a batch, a redemption, the ledger check) still works."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection

from rewards.services import points_earn

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "db_roles.sh"
BASH = shutil.which("bash") or "/bin/bash"

pytestmark = pytest.mark.django_db(transaction=True)


def url_for(user: str) -> str:
    """A URL to the test database (pytest-django's test_<name>) as `user`; the test server trusts local users."""
    settings = connection.settings_dict
    password = f":{quote(settings['PASSWORD'], safe='')}" if settings["PASSWORD"] and user == settings["USER"] else ""
    host = settings["HOST"] or "localhost"
    port = f":{settings['PORT']}" if settings["PORT"] else ""
    return f"postgres://{quote(user, safe='')}{password}@{host}{port}/{settings['NAME']}"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BASH, str(SCRIPT), *args, url_for(connection.settings_dict["USER"])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def roles(program):
    """An owner and an application role with names of their own (roles are cluster-wide), dropped afterwards
    with the test database given back to the user it belonged to."""
    suffix = uuid.uuid4().hex[:10]
    owner, app = f"test_owner_{suffix}", f"test_app_{suffix}"
    result = run_script("--owner", owner, "--app", app, "--transfer-ownership")
    try:
        assert result.returncode == 0, result.stderr + result.stdout
        yield owner, app
    finally:
        connection.close()
        with psycopg.connect(url_for(connection.settings_dict["USER"]), autocommit=True) as admin:
            for role in (owner, app):
                if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                    admin.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
                    admin.execute(f'DROP OWNED BY "{role}"')
                    admin.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def earner(make_member, roles):
    member = make_member()
    points_earn(member=member, points=300, reason="welcome", idempotency_key=f"roles-{member.pk}")
    return member


def as_role(role: str) -> psycopg.Connection:
    return psycopg.connect(url_for(role), autocommit=True)


def ledger_row(member_id: int, key: str) -> tuple:
    return (member_id, "adjust", "available", 5, "test", "", "[]", key)


INSERT_ENTRY = (
    "INSERT INTO rewards_ledgerentry (member_id, kind, bucket, points, reason, reference, rules, idempotency_key, "
    "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now()) RETURNING id"
)


def test_the_application_role_inserts_and_reads_the_ledger(roles, earner):
    _, app = roles
    with as_role(app) as conn:
        entry_id = conn.execute(INSERT_ENTRY, ledger_row(earner.pk, "app-insert-1")).fetchone()[0]
        rows = conn.execute("SELECT points FROM rewards_ledgerentry WHERE member_id = %s ORDER BY id", [earner.pk])
        assert [points for (points,) in rows] == [300, 5]
    assert entry_id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET id = id",
        "DELETE FROM {table}",
        "TRUNCATE {table}",
        "TRUNCATE {table} CASCADE",
        "ALTER TABLE {table} DISABLE TRIGGER ALL",
        "ALTER TABLE {table} DISABLE TRIGGER {table}_no_update_delete",
        "DROP TRIGGER {table}_no_update_delete ON {table}",
        "ALTER TABLE {table} ADD COLUMN note text",
        "DROP TABLE {table} CASCADE",
        "CREATE TRIGGER sneaky BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
    ],
)
@pytest.mark.parametrize("table", ["rewards_ledgerentry", "members_consentevent"])
def test_the_application_role_cannot_rewrite_the_append_only_tables(roles, earner, statement, table):
    _, app = roles
    with as_role(app) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement.format(table=table))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM rewards_ledgerentry WHERE member_id = %s", [earner.pk])
        assert cursor.fetchone()[0] == 1


def test_the_application_role_cannot_create_tables_or_write_the_migration_history(roles):
    _, app = roles
    with as_role(app) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE sneaky (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM django_migrations")
        assert conn.execute("SELECT count(*) FROM django_migrations").fetchone()[0] > 0


def test_the_script_runs_again_and_tables_of_later_migrations_get_the_grants(roles):
    owner, app = roles
    again = run_script("--owner", owner, "--app", app)
    assert again.returncode == 0, again.stderr + again.stdout
    assert "rewards_ledgerentry" in again.stdout

    with connection.cursor() as cursor:
        # What a later migration does, run as the owner.
        cursor.execute(f'SET ROLE "{owner}"')
        cursor.execute("CREATE TABLE later_table (id bigserial PRIMARY KEY, note text)")
        cursor.execute("RESET ROLE")
    with as_role(app) as conn:
        conn.execute("INSERT INTO later_table (note) VALUES ('x')")
        conn.execute("UPDATE later_table SET note = 'y'")
        assert conn.execute("SELECT note FROM later_table").fetchone() == ("y",)


def test_the_script_refuses_tables_owned_by_another_role_and_changes_nothing(program):
    suffix = uuid.uuid4().hex[:10]
    owner, app = f"test_owner_{suffix}", f"test_app_{suffix}"
    result = run_script("--owner", owner, "--app", app)  # the tables belong to the test user: not transferred

    assert result.returncode != 0
    assert "--transfer-ownership" in result.stdout + result.stderr
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s)", [owner, app])
        assert cursor.fetchone()[0] == 0


APP_CODE = """
import json
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from members.models import Member
from members.services import member_create
from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.models import PointsAccount
from rewards.reconciliation import ledger_check_run
from rewards.services import points_redeem, purchase_post

member = Member.objects.get(pk={member_id})
newcomer = member_create(first_name="Ewa", last_name="Nowak", email="ewa.app@example.pl", phone="+48600999001")
purchase_post(member=member, source="pos", external_id="APP-1", amount=Decimal("200.00"))
points_redeem(member=member, points=150, reason="coffee", idempotency_key="app-redeem-1")
now = timezone.now()
batch = purchases_post_batch(
    [
        PurchaseRow(member_id=newcomer.pk, source="pos", external_id=f"APP-B{{n}}", amount=Decimal("40.00"),
                    purchased_at=now - timedelta(hours=n))
        for n in range(1, 4)
    ],
    now=now,
)
clean = ledger_check_run()
with connection.cursor() as cursor:
    cursor.execute("UPDATE rewards_pointsaccount SET balance = balance + 1000 WHERE member_id = %s", [member.pk])
tampered = ledger_check_run()
print(json.dumps({{
    "user": connection.cursor().execute("SELECT current_user").fetchone()[0],
    "balance": PointsAccount.objects.get(member=member).balance,
    "newcomer": PointsAccount.objects.get(member=newcomer).balance,
    "posted": batch.created,
    "clean": clean.mismatch_count,
    "tampered": [row["member_id"] for row in tampered.mismatches],
}}))
"""


def test_the_application_works_connected_as_its_role(roles, earner):
    _, app = roles
    env = {**os.environ, "DATABASE_URL": url_for(app), "DJANGO_SETTINGS_MODULE": "loyalty_site.settings"}
    env.setdefault("SECRET_KEY", "test-only-secret-key-for-the-app-role-subprocess")
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", APP_CODE.format(member_id=earner.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {
        "user": app,
        "balance": 300 + 200 - 150 + 1000,
        "newcomer": outcome["newcomer"],
        "posted": 3,
        "clean": 0,
        "tampered": [earner.pk],
    }
    assert outcome["newcomer"] >= 120
