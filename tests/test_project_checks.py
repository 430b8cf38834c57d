"""Project-wide checks: production settings pass the deploy checklist and migrations are complete."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args, env_extra):
    # Only what a production process would have: no test-only switches leak into the subprocess.
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "SECRET_KEY"}}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_extra={
            "SECRET_KEY": "x" * 20 + "production-like-secret-key-with-enough-entropy-3f9a8b7c6d5e",
            "ALLOWED_HOSTS": "loyalty.example.pl",
            "DEBUG": "0",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_are_complete():
    result = run_manage("makemigrations", "--check", "--dry-run", env_extra={"DEBUG": "1"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_can_be_checked_in_a_bare_checkout():
    # No SECRET_KEY and no DEBUG: what a CI step or a reviewer's shell has.
    result = run_manage("makemigrations", "--check", "--dry-run", env_extra={})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = run_manage("check", env_extra={"DEBUG": "0", "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
