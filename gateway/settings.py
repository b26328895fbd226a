"""Settings from `GATEWAY_*` environment variables (and a `.env` file), validated at start-up.

`load_settings()` turns every bad value into one line naming the variable and what is wrong,
so an operator sees all the problems at once instead of a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = ".gateway-secret"
# Settings whose values never appear in an error message (those end up in terminals and logs).
_SECRET_FIELDS = frozenset({"secret_key", "twilio_auth_token", "smtp_password", "letters_sftp_password"})
_SECRET_HINT = "make one: openssl rand -base64 48"
# Settings that need another one set with them: later field -> earlier field.
_PAIRED = {"twilio_auth_token": "twilio_account_sid", "smtp_password": "smtp_username"}


class SettingsError(Exception):
    """Raised with one line per bad setting."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """Every setting the gateway reads. Names are a contract with operators: keep them."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///gateway.db"
    redis_url: str | None = None
    redis_prefix: str = "gateway"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str | None = None
    secret_key: str | None = Field(default=None, validate_default=True)

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = Field(default=None, validate_default=True)
    twilio_api_base: str = "https://api.twilio.com"
    twilio_timeout: float = Field(default=10.0, gt=0, le=120)

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, validate_default=True)
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout: float = Field(default=15.0, gt=0, le=120)
    smtp_pool_size: int = Field(default=4, ge=1, le=64)

    # Inbound email: the SMTP listener for replies runs only when a port is set (0 = any free port).
    inbound_smtp_host: str | None = None  # default: GATEWAY_HOST
    inbound_smtp_port: int | None = Field(default=None, ge=0, le=65535)
    inbound_smtp_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Email the assigned officer when a new message joins their conversation (never the message itself).
    inbound_staff_alerts: bool = False

    # letters (gateway.letters): where print batches are written, and the daily cutoff on each service's clock
    letters_dir: Path = Path("letters")
    letters_cutoff: str = Field(default="17:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    # staff daily digest of unanswered replies (gateway.alerts.digest): when it goes, on each service's clock
    digest_time: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    # a mail house that takes batches by SFTP (unset host: batches stay in GATEWAY_LETTERS_DIR)
    letters_sftp_host: str | None = None
    letters_sftp_port: int = Field(default=22, ge=1, le=65535)
    letters_sftp_username: str | None = None
    letters_sftp_password: str | None = None
    letters_sftp_known_hosts: Path | None = None  # the mail house's host key (OpenSSH known_hosts file)
    letters_sftp_path: str = "."

    default_region: str = Field(default="US", min_length=2, max_length=2)
    templates_dir: Path = Path(__file__).resolve().parent.parent / "templates"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "console"
    # the event loop of `gateway serve` / `gateway worker`: uvloop (the `speed` extra) when installed, or asyncio's
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # the larger limit for a broadcast's list: a staff upload (/broadcasts) and the bulk API's rows or csv
    upload_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    api_rate_limit_per_minute: int = Field(default=3000, ge=1)
    sending_timeout_seconds: int = Field(default=3 * 24 * 3600, ge=60)
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    # due reminders and scheduled messages (gateway.appointments.scheduler): how often they are looked for
    scheduler_interval_seconds: float = Field(default=60.0, gt=0)
    # delivery jobs (gateway.jobs): concurrency per worker (and of the in-process queue), the longest
    # a job may run, how often a send is tried, and the backoff between tries (base * 2**(try-1),
    # capped, with jitter; a provider's Retry-After is honoured when longer)
    worker_max_jobs: int = Field(default=50, ge=1, le=1000)
    # what the API accepts goes to delivery in jobs of up to this many notifications, each enqueued when
    # full or this long after its first notification was committed; sends in flight at once per process,
    # all jobs together (also the Twilio connection pool's size; Twilio limits concurrent requests per
    # account too)
    delivery_batch_size: int = Field(default=100, ge=1, le=1000)
    delivery_batch_wait_seconds: float = Field(default=0.05, ge=0, le=5)
    delivery_concurrency: int = Field(default=100, ge=1, le=2000)
    job_timeout_seconds: float = Field(default=60.0, gt=0)
    delivery_max_attempts: int = Field(default=5, ge=1, le=50)
    retry_backoff_seconds: float = Field(default=10.0, gt=0)
    retry_backoff_max_seconds: float = Field(default=900.0, gt=0)
    # circuit breaker per provider and sender (gateway.jobs.breaker): provider-wide failures in a row that
    # pause a sender, and how often a paused sender is tried with one message
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_probe_seconds: float = Field(default=30.0, gt=0, le=3600)
    # the sweeper: `created` rows untouched this long are enqueued again; a claim (`sending`, no provider
    # reference) older than the lease is a lost worker's (unset = job timeout + 30 s)
    sweep_grace_seconds: float = Field(default=60.0, ge=0)
    sending_lease_seconds: float | None = Field(default=None, gt=0)
    # per-sender send rate for email (SMS uses each service's sms_per_second)
    email_per_second: float = Field(default=50.0, gt=0)
    # a broadcast's messages handed to delivery and not yet sent, at most (gateway.broadcasts.pump). It
    # must cover the rate times the time from hand-out to send (the pump's tick, arq's poll, the claim):
    # 1,000 held two workers to ~1,600 texts/s, 3,000 let them reach ~2,000 (bench/broadcast.py). A
    # victim notice's job goes ahead of these in the queue (the priority lane) whatever the window.
    broadcast_window: int = Field(default=3000, ge=10, le=100_000)
    # victim notification (gateway.victims): how long a notice waits for acknowledgment before the next
    # channel (urgent kinds: escape, early release), how long a letter step waits, and calls per voice step
    victim_ack_window_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    victim_urgent_window_hours: float = Field(default=1.0, gt=0, le=24 * 30)
    victim_letter_window_days: float = Field(default=10.0, gt=0, le=90)
    victim_call_attempts: int = Field(default=3, ge=1, le=10)
    # staff web sessions: signed out after this long idle, and after the absolute limit regardless
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=7 * 24)
    # argon2id cost for staff passwords; stored hashes are upgraded at the next sign-in when these change
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8 * 1024, le=4 * 1024 * 1024)
    argon2_parallelism: int = Field(default=4, ge=1, le=16)

    @field_validator("event_loop")
    @classmethod
    def _check_event_loop(cls, value: str) -> str:
        if value == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise ValueError("uvloop is not installed (pip install 'cj-gateway[speed]'), or use auto")
        return value

    @field_validator("templates_dir")
    @classmethod
    def _check_templates_dir(cls, value: Path) -> Path:
        # message templates (sms/, email/, letter/) and staff pages (pages/) are read from here
        if not (value / "pages").is_dir():
            raise ValueError(
                f"{value} is not the gateway's templates folder (no pages/ in it); point it at the"
                " templates/ folder of the source (the container image uses /app/templates)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// or rediss:// URL")
        return value

    @field_validator("public_url", "twilio_api_base")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    # Checks between settings are field validators on the later field of each pair (which sees
    # the earlier ones in `info.data`), not a model validator: pydantic skips model validators
    # once any field fails, and an operator should see every problem at once.

    @field_validator("secret_key")
    @classmethod
    def _check_secret(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            database_url = str(info.data.get("database_url", ""))
            if database_url.startswith("postgresql") or info.data.get("redis_url"):
                raise ValueError(f"required in scaled mode (PostgreSQL or Redis configured); {_SECRET_HINT}")
            return None
        if len(value) < 32:
            raise ValueError(f"must be at least 32 characters; {_SECRET_HINT}")
        return value

    @field_validator("twilio_auth_token", "smtp_password")
    @classmethod
    def _check_pair(cls, value: str | None, info: ValidationInfo) -> str | None:
        first = _PAIRED[str(info.field_name)]
        if info.data.get(first) and not value:
            raise ValueError(f"required when GATEWAY_{first.upper()} is set")
        if value and not info.data.get(first):
            raise ValueError(f"set, but GATEWAY_{first.upper()} is not; set both or neither")
        return value

    @property
    def scaled(self) -> bool:
        """Scaled mode: a shared database or Redis, so nothing may live in one process only."""
        return self.database_url.startswith("postgresql") or self.redis_url is not None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def sending_lease(self) -> float:
        """How long a claimed, unsent notification belongs to its worker before the sweeper takes it back."""
        return self.sending_lease_seconds or self.job_timeout_seconds + 30.0

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry `Secure` when the gateway is reached over https."""
        return self.base_url.startswith("https://")

    @property
    def sms_sandbox(self) -> bool:
        return not self.twilio_account_sid

    @property
    def email_sandbox(self) -> bool:
        return not self.smtp_host

    @property
    def secret(self) -> str:
        if not self.secret_key:
            raise RuntimeError("secret key not loaded; use load_settings()")
        return self.secret_key


def _embedded_secret(settings: Settings) -> str:
    """Embedded mode keeps a generated key beside the SQLite file, created on first run."""
    path = Path(SECRET_FILE)
    if settings.is_sqlite and "///" in settings.database_url:
        db_path = settings.database_url.split("///", 1)[1]
        if db_path and db_path != ":memory:":
            path = Path(db_path).resolve().parent / SECRET_FILE
    if not path.parent.is_dir():
        raise SettingsError([f"GATEWAY_DATABASE_URL: the directory {path.parent} does not exist"])
    try:
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
    except OSError as exc:
        raise SettingsError(
            [f"GATEWAY_SECRET_KEY: not set, and a generated key cannot be kept in {path}: {exc.strerror}"]
        ) from None
    return value


def _describe(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ()) if part != "__root__"]
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not loc:
        return message
    value = error.get("input")
    shown = "" if value is None or loc[0] in _SECRET_FIELDS else f" (got {value!r})"
    return f"GATEWAY_{loc[0].upper()}: {message}{shown}"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings; raise SettingsError with one line per problem."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError([_describe(dict(e)) for e in exc.errors()]) from None
    if not settings.secret_key:
        settings.secret_key = _embedded_secret(settings)
    return settings
