"""The container image's layout (Dockerfile + compose.yaml) works with an installed, non-editable
gateway: pages and templates are found through GATEWAY_TEMPLATES_DIR, not beside the source.

Docker cannot run here, so this reproduces what the image does: `pip install .` (a built copy, not
the editable checkout), the templates copied to a folder of their own, and `gateway serve` run from
elsewhere."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_installed_gateway_serves_its_pages_from_the_templates_dir(tmp_path: Path) -> None:
    site = tmp_path / "site"
    # --no-deps: the dependencies are this test run's own; the gateway itself is a built, installed copy
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )
    app_templates = tmp_path / "app" / "templates"
    shutil.copytree(ROOT / "templates", app_templates)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PYTHON"))}
    env |= {
        "PYTHONPATH": str(site),  # ahead of the checkout's editable install
        "GATEWAY_TEMPLATES_DIR": str(app_templates),
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
        "GATEWAY_PORT": str(port),
        "GATEWAY_LOG_LEVEL": "warning",
    }
    server = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
                    page = response.read().decode()
                break
            except urllib.error.HTTPError:
                raise  # it answered, wrongly: say so now
            except OSError:  # not listening yet
                assert server.poll() is None, "gateway serve exited"
                assert time.monotonic() < deadline, "gateway serve did not answer"
                time.sleep(0.3)
        assert "Sign in" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/live.js", timeout=5) as response:
            assert response.status == 200 and b"WebSocket" in response.read()  # packaged with the code
        installed = subprocess.run(
            [sys.executable, "-c", "import gateway; print(gateway.__file__)"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            check=True,
        ).stdout
        assert installed.startswith(str(site)), installed  # the installed copy answered, not the checkout
    finally:
        server.terminate()
        server.wait(timeout=15)
