"""The `gateway` command as an operator runs it: a real subprocess, a real SQLite file, real output.

The last test is the new user's path: `gateway demo` prints a key, `gateway serve` starts, and the
official GOV.UK Notify client uses that key to list templates and send a text message.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from notifications_python_client.notifications import NotificationsAPIClient

from gateway.settings import SECRET_FILE

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def gateway(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=home,
        env=environment(home, **(env or {})),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def environment(home: Path, **env: str) -> dict[str, str]:
    """The parent's environment without any GATEWAY_* setting, pointed at a SQLite file in `home`."""
    out = {k: v for k, v in os.environ.items() if not k.upper().startswith("GATEWAY_")}
    out |= {"GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{home}/g.db", "GATEWAY_LOG_LEVEL": "warning"}
    return out | env


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated gateway home shared by this module's tests (each makes its own names)."""
    path = tmp_path_factory.mktemp("gateway-home")
    result = gateway(path, "migrate")
    assert result.returncode == 0, result.stderr
    assert "database: up to date" in result.stdout
    assert re.search(r"templates: [1-9]\d* added", result.stdout), result.stdout
    return path


def test_migrate_twice_changes_nothing_and_keeps_one_secret(home: Path) -> None:
    secret = (home / SECRET_FILE).read_text()
    again = gateway(home, "migrate")
    assert again.returncode == 0, again.stderr
    assert re.search(r"templates: 0 added, 0 changed, [1-9]\d* unchanged", again.stdout), again.stdout
    assert (home / SECRET_FILE).read_text() == secret


def service_create(home: Path, name: str) -> str:
    result = gateway(home, "service", "create", name)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_service_create_prints_an_id_and_refuses_a_duplicate_name(home: Path) -> None:
    name = f"Eastside Parole {uuid.uuid4().hex[:6]}"
    assert re.fullmatch(UUID, service_create(home, name))
    again = gateway(home, "service", "create", name)
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.strip() == f"gateway service: a service named '{name}' already exists"


def test_key_create_prints_the_key_once_and_refuses_bad_requests(home: Path) -> None:
    service_id = service_create(home, f"Reentry Centre {uuid.uuid4().hex[:6]}")
    made = gateway(home, "key", "create", service_id, "--name", "n", "--type", "team")
    assert made.returncode == 0, made.stderr
    assert re.fullmatch(rf"n-{service_id}-{UUID}", made.stdout.strip()), made.stdout
    refusals = [
        (["not-a-service"], "SERVICE_ID must be a UUID, got 'not-a-service'"),
        ([str(uuid.UUID(int=1))], f"no service with id {uuid.UUID(int=1)}"),
        ([service_id], "this service already has a key named 'n'"),
        ([service_id, "--name", "has-hyphens"], "key name must be 1 to 64 letters, digits or underscores"),
    ]
    for args, message in refusals:
        extra = [] if "--name" in args else ["--name", "n"]
        result = gateway(home, "key", "create", *args, *extra)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stdout == "" and message in result.stderr and "Traceback" not in result.stderr


def test_templates_check_passes_and_names_a_broken_file(home: Path, tmp_path: Path) -> None:
    ok = gateway(home, "templates", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "templates: all render" in ok.stdout
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    broken = copy / "sms" / "en" / "office_closure.txt"
    broken.write_text(broken.read_text().replace("{{ office_name }}", "{{ office_name "))
    bad = gateway(home, "templates", "check", env={"GATEWAY_TEMPLATES_DIR": str(copy)})
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert any(line.startswith("error: ") and str(broken) in line for line in bad.stdout.splitlines()), bad.stdout


@pytest.mark.parametrize("args", [["migrate"], ["service", "create", "x"], ["serve"]])
def test_bad_settings_exit_2_naming_the_variable(home: Path, args: list[str]) -> None:
    result = gateway(home, *args, env={"GATEWAY_PORT": "abc", "GATEWAY_REDIS_URL": "http://nope"})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "gateway: invalid settings:"
    assert sorted(line.strip().split(":", 1)[0] for line in lines[1:]) == ["GATEWAY_PORT", "GATEWAY_REDIS_URL"]
    assert "Traceback" not in result.stderr


def test_database_problems_are_one_line_and_exit_2(tmp_path: Path) -> None:
    unmigrated = gateway(tmp_path, "service", "create", "Northside Probation")
    assert unmigrated.returncode == 2
    assert "run `gateway migrate` first" in unmigrated.stderr and "Traceback" not in unmigrated.stderr
    scaled = {"GATEWAY_DATABASE_URL": "postgresql+asyncpg://gw@127.0.0.1:1/gw", "GATEWAY_SECRET_KEY": "k" * 40}
    unreachable = gateway(tmp_path, "migrate", env=scaled)
    assert unreachable.returncode == 2
    assert "GATEWAY_DATABASE_URL" in unreachable.stderr and "Traceback" not in unreachable.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited with {process.returncode}"
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url}/healthz did not answer within {seconds} s")


def test_demo_key_works_with_the_official_client_against_gateway_serve(tmp_path: Path) -> None:
    home, env = tmp_path, {"GATEWAY_PORT": str(free_port()), "GATEWAY_HOST": "127.0.0.1"}
    demo = gateway(home, "demo", env=env)
    assert demo.returncode == 0, demo.stderr
    found = re.search(r"API key:\s+(\S+)", demo.stdout)
    assert found, demo.stdout
    key = found.group(1)
    url = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    assert f"URL:         {url}" in demo.stdout
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"],
        cwd=home,
        env=environment(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_healthy(url, server)
        client = NotificationsAPIClient(key, base_url=url)
        templates = client.get_all_templates("sms")["templates"]
        free_text = next(t for t in templates if t["body"].strip() == "{{ message }}")
        sent = client.send_sms_notification("+12025550143", free_text["id"], {"message": "Demo works"}, "demo-1")
        assert sent["content"]["body"] == "Demo works" and sent["reference"] == "demo-1"
        got = client.get_notification_by_id(sent["id"])
        assert got["phone_number"] == "+12025550143" and got["body"] == "Demo works"
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert f"listening on {url}" in out


def test_long_running_processes_collect_young_objects_less_often() -> None:
    """`tune_gc` (called by `gateway serve` and `gateway worker`): the young generation's threshold is
    GC_THRESHOLD and what was alive at start-up is frozen out of collections; in a process of its own."""
    script = (
        "import gc; from gateway.cli import GC_THRESHOLD, tune_gc; before = gc.get_threshold(); tune_gc(); "
        "print(before[0], gc.get_threshold()[0] == GC_THRESHOLD, gc.get_threshold()[1:] == before[1:], "
        "gc.get_freeze_count() > 1000)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["700", "True", "True", "True"]
