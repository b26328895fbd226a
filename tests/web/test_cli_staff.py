"""`gateway staff create` as an operator runs it: a real subprocess against a real SQLite file."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher

ROOT = Path(__file__).resolve().parents[2]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PASSWORD = "a perfectly long password"


def gateway(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GATEWAY_")}
    env |= {
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{home}/g.db",
        "GATEWAY_LOG_LEVEL": "warning",
        "GATEWAY_ARGON2_TIME_COST": "1",
        "GATEWAY_ARGON2_MEMORY_KIB": "8192",
        "GATEWAY_ARGON2_PARALLELISM": "1",
        "PYTHONPATH": str(ROOT),  # this checkout's gateway, whatever is installed
    }
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=home, env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def home_and_service(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("staff-cli")
    assert gateway(home, "migrate").returncode == 0
    created = gateway(home, "service", "create", "Northside Parole")
    assert created.returncode == 0, created.stderr
    return home, created.stdout.strip()


def staff_create(
    home: Path, service: str, email: str, *roles: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    role_args = [arg for role in roles for arg in ("--role", role)]
    return gateway(
        home, "staff", "create", "--service", service, "--email", email, "--name", "Ada Admin", *role_args,
        "--password-stdin", stdin=password + "\n",
    )  # fmt: skip


def test_staff_create_prints_the_id_and_stores_a_hash(home_and_service: tuple[Path, str]) -> None:
    home, service = home_and_service
    result = staff_create(home, service, "Ada.Admin@Agency.Gov", "admin", "officer")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(UUID, result.stdout.strip())
    assert PASSWORD not in result.stdout + result.stderr
    with sqlite3.connect(home / "g.db") as db:
        email, roles, password_hash, totp, service_id = db.execute(
            "SELECT email, roles, password_hash, totp_secret_enc, service_id FROM staff_users"
        ).fetchone()
        [(action, actor)] = db.execute("SELECT action, actor FROM audit_log WHERE action = 'staff.create'").fetchall()
    assert (email, roles, totp) == ("ada.admin@agency.gov", '["officer", "admin"]', None)
    assert service_id.replace("-", "") == service.replace("-", "")
    assert password_hash.startswith("$argon2id$") and PasswordHasher().verify(password_hash, PASSWORD)
    assert (action, actor) == ("staff.create", "cli")


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (("new.one@agency.gov", "officer"), "too short", "Password: Use at least 12 characters"),
        (("not-an-email", "officer"), PASSWORD, "Enter a valid email address"),
        (("ada.admin@agency.gov", "officer"), PASSWORD, "already exists"),
    ],
)
def test_staff_create_refuses_bad_input(
    home_and_service: tuple[Path, str], args: tuple[str, ...], password: str, message: str
) -> None:
    home, service = home_and_service
    staff_create(home, service, "ada.admin@agency.gov", "admin")  # for the duplicate case
    result = staff_create(home, service, *args, password=password)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("gateway staff: ") and message in result.stderr


def test_staff_create_needs_a_real_service(home_and_service: tuple[Path, str]) -> None:
    home, _ = home_and_service
    result = staff_create(home, "00000000-0000-4000-8000-000000000000", "x.y@agency.gov", "officer")
    assert result.returncode == 2 and "No service with id" in result.stderr
    unknown_role = staff_create(home, "00000000-0000-4000-8000-000000000000", "x.y@agency.gov", "janitor")
    assert unknown_role.returncode == 2 and "invalid choice: 'janitor'" in unknown_role.stderr
