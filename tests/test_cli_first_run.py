"""A new user's first run, as a subprocess: a port in use or Redis down is one line and exit 2 before
anything is written; `staff create` without a terminal says what to do; `gateway demo` reuses its
live key; the demo's welcome text is delivered at start-up, not at the next sweep."""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.test_cli import environment, free_port, gateway, service_create, wait_until_healthy


def test_a_port_in_use_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = gateway(tmp_path, "serve", "--demo", env={"GATEWAY_PORT": str(port), "GATEWAY_HOST": "127.0.0.1"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().startswith(f"gateway serve: cannot listen on 127.0.0.1:{port}: address already in use")
    assert len(result.stderr.strip().splitlines()) == 1 and "listening" not in result.stdout
    assert not (tmp_path / "g.db").exists()  # no demo data, no password reset, no new key


def test_redis_down_at_start_up_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {
        "GATEWAY_PORT": str(free_port()),
        "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nobody listens there
        "GATEWAY_SECRET_KEY": "k" * 40,
    }
    result = gateway(tmp_path, "serve", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        result.stderr.strip()
        == "gateway serve: cannot reach Redis at GATEWAY_REDIS_URL (ConnectionError); is it running?"
    )
    assert "listening" not in result.stdout


def test_staff_create_without_a_terminal_says_to_use_password_stdin(tmp_path: Path) -> None:
    assert gateway(tmp_path, "migrate").returncode == 0
    service_id = service_create(tmp_path, "Northside Reentry")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "staff",
            "create",
            "--service",
            service_id,
            "--email",
            "a@agency.example",
            "--name",
            "Ann",
            "--role",
            "officer",
        ],
        cwd=tmp_path,
        env=environment(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "gateway staff: no terminal to ask for the password: give it on standard input with --password-stdin"
    )


def test_demo_reuses_its_key_and_delivers_the_welcome_text_at_once(tmp_path: Path) -> None:
    env = {"GATEWAY_PORT": str(free_port()), "GATEWAY_HOST": "127.0.0.1"}
    keys = []
    for _ in range(2):
        demo = gateway(tmp_path, "demo", env=env)
        assert demo.returncode == 0, demo.stderr
        found = re.search(r"API key:\s+(\S+)", demo.stdout)
        assert found
        keys.append(found.group(1))
    assert keys[0] == keys[1]
    with sqlite3.connect(tmp_path / "g.db") as db:
        assert db.execute("select count(*) from api_keys where created_by = 'demo'").fetchone() == (1,)
        assert db.execute(
            "select status from notifications where idempotency_key = 'demo-jordan-welcome'"
        ).fetchone() == ("created",)
    url = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--demo"],
        cwd=tmp_path,
        env=environment(tmp_path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_healthy(url, server)
        deadline = time.monotonic() + 10  # the sweeper's grace is 60 s: this is the start-up enqueue
        status = "created"
        while status == "created" and time.monotonic() < deadline:
            with sqlite3.connect(tmp_path / "g.db") as db:
                status = db.execute(
                    "select status from notifications where idempotency_key = 'demo-jordan-welcome'"
                ).fetchone()[0]
            time.sleep(0.2)
        assert status == "delivered"
    finally:
        server.terminate()
        server.communicate(timeout=30)
