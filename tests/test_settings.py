"""Settings: every bad `GATEWAY_*` value is one line naming the variable; the embedded secret file.

Each test runs in an empty working directory with every `GATEWAY_*` variable removed, so
neither the developer's environment nor a real `.env` file can change the outcome.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway.settings import SECRET_FILE, Settings, SettingsError, load_settings

GOOD_SECRET = "s" * 40
PG = "postgresql+asyncpg://gw@db/gw"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.upper().startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/g.db")
    return tmp_path


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


ONE_BAD_VALUE = [
    ("GATEWAY_DATABASE_URL", "mysql://root@localhost/gw", "must start with sqlite+aiosqlite:// or"),
    ("GATEWAY_DATABASE_URL", "postgresql://gw@db/gw", "must start with sqlite+aiosqlite:// or"),
    ("GATEWAY_PORT", "0", "greater than or equal to 1"),
    ("GATEWAY_PORT", "70000", "less than or equal to 65535"),
    ("GATEWAY_PORT", "abc", "valid integer"),
    ("GATEWAY_SMTP_PORT", "-25", "greater than or equal to 1"),
    ("GATEWAY_REDIS_URL", "http://127.0.0.1:6379", "must be a redis:// or rediss:// URL"),
    ("GATEWAY_PUBLIC_URL", "gateway.agency.example", "must be an http:// or https:// URL"),
    ("GATEWAY_PUBLIC_URL", "ftp://gateway.agency.example", "must be an http:// or https:// URL"),
    ("GATEWAY_TWILIO_API_BASE", "api.twilio.com", "must be an http:// or https:// URL"),
    ("GATEWAY_SECRET_KEY", "too-short-secret", "at least 32 characters"),
    ("GATEWAY_SMTP_TLS", "ssl", "'starttls', 'tls' or 'none'"),
    ("GATEWAY_LOG_LEVEL", "loud", "'debug', 'info', 'warning' or 'error'"),
    ("GATEWAY_DEFAULT_REGION", "USA", "at most 2 characters"),
    ("GATEWAY_TEMPLATES_DIR", "/usr/lib", "is not the gateway's templates folder (no pages/ in it)"),
]


@pytest.mark.parametrize(("name", "value", "reason"), ONE_BAD_VALUE, ids=[f"{n}={v}" for n, v, _ in ONE_BAD_VALUE])
def test_one_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reason: str
) -> None:
    [line] = problems(monkeypatch, **{name: value})
    assert line.startswith(f"{name}: "), line
    assert reason in line


PAIRS = [
    ({"GATEWAY_TWILIO_ACCOUNT_SID": "AC123"}, "GATEWAY_TWILIO_AUTH_TOKEN: required when GATEWAY_TWILIO_ACCOUNT_SID"),
    ({"GATEWAY_TWILIO_AUTH_TOKEN": "tok"}, "GATEWAY_TWILIO_AUTH_TOKEN: set, but GATEWAY_TWILIO_ACCOUNT_SID is not"),
    ({"GATEWAY_SMTP_USERNAME": "relay"}, "GATEWAY_SMTP_PASSWORD: required when GATEWAY_SMTP_USERNAME is set"),
    ({"GATEWAY_SMTP_PASSWORD": "pw"}, "GATEWAY_SMTP_PASSWORD: set, but GATEWAY_SMTP_USERNAME is not"),
    ({"GATEWAY_DATABASE_URL": PG}, "GATEWAY_SECRET_KEY: required in scaled mode"),
    ({"GATEWAY_REDIS_URL": "redis://127.0.0.1:6379/0"}, "GATEWAY_SECRET_KEY: required in scaled mode"),
]


@pytest.mark.parametrize(("env", "start"), PAIRS, ids=[next(iter(env)) for env, _ in PAIRS])
def test_settings_that_need_each_other(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], start: str) -> None:
    [line] = problems(monkeypatch, **env)
    assert line.startswith(start), line


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = problems(
        monkeypatch,
        GATEWAY_SECRET_KEY="hunter2-hunter2",
        GATEWAY_TWILIO_AUTH_TOKEN="tw-token-value",
        GATEWAY_SMTP_PASSWORD="smtp-pass-value",
    )
    assert len(lines) == 3
    for secret in ("hunter2-hunter2", "tw-token-value", "smtp-pass-value"):
        assert all(secret not in line for line in lines)


def test_every_bad_value_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = problems(
        monkeypatch,
        GATEWAY_DATABASE_URL="mysql://root@localhost/gw",
        GATEWAY_PORT="abc",
        GATEWAY_REDIS_URL="http://127.0.0.1:6379",
        GATEWAY_PUBLIC_URL="gateway.agency.example",
        GATEWAY_TWILIO_ACCOUNT_SID="AC123",
        GATEWAY_SMTP_USERNAME="relay",
    )
    named = sorted(line.split(":", 1)[0] for line in lines)
    assert named == sorted(
        [
            "GATEWAY_DATABASE_URL",
            "GATEWAY_PORT",
            "GATEWAY_REDIS_URL",
            "GATEWAY_PUBLIC_URL",
            "GATEWAY_TWILIO_AUTH_TOKEN",
            "GATEWAY_SMTP_PASSWORD",
        ]
    ), lines


def test_scaled_mode_with_a_secret_is_fine(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", PG)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "https://gw.agency.example/")
    settings = load_settings()
    assert settings.scaled and settings.secret == GOOD_SECRET
    assert settings.base_url == "https://gw.agency.example"
    assert not list(clean_env.iterdir()), "scaled mode never writes a secret file"


def test_embedded_mode_generates_a_private_secret_beside_the_database(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    data = clean_env / "data"
    data.mkdir()
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{data}/gateway.db")
    first = load_settings()
    secret_file = data / SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret_file.read_text().strip() == first.secret
    assert len(first.secret) >= 32 and not first.scaled
    assert not (clean_env / SECRET_FILE).exists()
    assert load_settings().secret == first.secret, "the same key on every start, or sealed data is lost"


def test_relative_sqlite_path_keeps_the_secret_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "sqlite+aiosqlite:///gateway.db")
    secret = load_settings().secret
    assert (clean_env / SECRET_FILE).read_text().strip() == secret


def test_missing_database_directory_is_one_line(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    [line] = problems(monkeypatch, GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{clean_env}/nowhere/g.db")
    assert line.startswith("GATEWAY_DATABASE_URL: ") and "nowhere" in line


def test_dotenv_in_the_working_directory_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    (clean_env / ".env").write_text("GATEWAY_PORT=9000\nGATEWAY_HOST=0.0.0.0\n")
    assert load_settings().port == 9000
    monkeypatch.setenv("GATEWAY_PORT", "9100")
    settings = load_settings()
    assert (settings.port, settings.host) == (9100, "0.0.0.0")
    assert settings.base_url == "http://0.0.0.0:9100"


def test_defaults(clean_env: Path) -> None:
    settings = Settings(_env_file=None)
    assert (settings.host, settings.port, settings.redis_url) == ("127.0.0.1", 8080, None)
    assert settings.sms_sandbox and settings.email_sandbox
    assert settings.max_body_bytes == 1024 * 1024
