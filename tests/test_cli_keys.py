"""`gateway key list | revoke` against a running `gateway serve`: a key made by the CLI works at once,
`list` shows type, creator and last use, and a revoked key is refused by the server within 5 s."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from notifications_python_client.authentication import create_jwt_token

from tests.test_cli import environment, free_port, gateway, service_create, wait_until_healthy


def status(url: str, key: str) -> int:
    name_service, secret = key[:-37], key[-36:]
    service_id = name_service[-36:]
    request = urllib.request.Request(
        f"{url}/v2/templates", headers={"Authorization": f"Bearer {create_jwt_token(secret, service_id)}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_keys_made_listed_and_revoked_while_the_server_runs(tmp_path: Path) -> None:
    env = {"GATEWAY_PORT": str(free_port()), "GATEWAY_HOST": "127.0.0.1"}
    assert gateway(tmp_path, "migrate").returncode == 0
    service_id = service_create(tmp_path, "Westside Parole")
    first = gateway(tmp_path, "key", "create", service_id, "--name", "first").stdout.strip()
    url = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"],
        cwd=tmp_path,
        env=environment(tmp_path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_healthy(url, server)
        assert status(url, first) == 200  # the service's keys are now cached
        made = gateway(tmp_path, "key", "create", service_id, "--name", "second", "--type", "test")
        assert made.returncode == 0, made.stderr
        assert status(url, made.stdout.strip()) == 200  # at once, not after the cache expires

        listed = gateway(tmp_path, "key", "list", service_id)
        assert listed.returncode == 0, listed.stderr
        rows = {line.split("\t")[1]: line.split("\t") for line in listed.stdout.splitlines()[1:]}
        assert rows["first"][2:4] == ["live", "cli"] and rows["first"][5] != "-" and rows["first"][6] == "-"
        assert rows["second"][2] == "test"
        assert first[-36:] not in listed.stdout

        revoked = gateway(tmp_path, "key", "revoke", service_id, "first")
        assert revoked.returncode == 0, revoked.stderr
        assert "every gateway process refuses it within 5 seconds" in revoked.stdout
        started = time.monotonic()
        while status(url, first) == 200:
            assert time.monotonic() - started < 5.5, "a revoked key still worked after 5 s"
            time.sleep(0.2)
        assert status(url, made.stdout.strip()) == 200
        again = gateway(tmp_path, "key", "revoke", service_id, "first")
        assert again.returncode == 2 and again.stderr.strip() == "gateway key: API key 'first' is already revoked"
        unknown = gateway(tmp_path, "key", "revoke", service_id, "nope")
        assert unknown.returncode == 2 and f"service {service_id} has no API key 'nope'" in unknown.stderr
    finally:
        server.terminate()
        server.communicate(timeout=30)
