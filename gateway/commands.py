"""What each `gateway` sub-command does. `gateway.cli` parses; this module acts."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import socket
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin import AdminError, create_api_key, create_service, update_service
from gateway.crypto import Vault
from gateway.db import ApiKey, Service
from gateway.db.engine import engine_from_settings, session_factory
from gateway.db.migrate import upgrade_async
from gateway.domain import KeyType, ServiceKind
from gateway.logs import configure_logging
from gateway.settings import Settings
from gateway.templating import TemplateFileError, check_templates, load_catalog, sync_templates

DEMO_SERVICE = "Demo District Parole Office"


class CommandError(Exception):
    """A command failed for a reason the operator can fix; printed as one line, exit 2."""


def database_problem(exc: Exception) -> str:
    """One line for a database that cannot be reached, or that `gateway migrate` has not set up."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    reason = (str(orig or exc).strip().splitlines() or [type(exc).__name__])[0]
    if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
        return f"the database has no gateway tables yet; run `gateway migrate` first ({reason})"
    return f"cannot use the database in GATEWAY_DATABASE_URL: {reason}"


async def _sync(settings: Settings) -> str:
    try:
        catalog = load_catalog(settings.templates_dir)
    except TemplateFileError as exc:
        raise CommandError(str(exc)) from None
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            report = await sync_templates(session, catalog)
            await session.commit()
    finally:
        await engine.dispose()
    return f"templates: {report.added} added, {report.changed} changed, {report.unchanged} unchanged"


async def migrate(settings: Settings, args: argparse.Namespace) -> int:
    await upgrade_async(settings.database_url)
    print("database: up to date")
    print(await _sync(settings))
    return 0


async def worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run an arq worker (scaled mode) until stopped, or with --burst until the queue is empty."""
    from gateway.cli import tune_gc
    from gateway.jobs.worker import WorkerConfigError, run_worker

    configure_logging(settings.log_level, settings.log_format)
    tune_gc()
    try:
        await run_worker(settings, burst=args.burst)
    except WorkerConfigError as exc:
        raise CommandError(str(exc)) from None
    return 0


async def templates_sync(settings: Settings, args: argparse.Namespace) -> int:
    print(await _sync(settings))
    return 0


async def templates_check(settings: Settings, args: argparse.Namespace) -> int:
    result = check_templates(settings.templates_dir)
    for line in result.warnings:
        print(f"warning: {line}")
    for line in result.problems:
        print(f"error: {line}", flush=True)
    if result.problems:
        print(f"{len(result.problems)} template problem(s)")
        return 1
    print("templates: all render")
    return 0


async def service_create(settings: Settings, args: argparse.Namespace) -> int:
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            if await session.scalar(select(Service.id).where(Service.name == args.name.strip())):
                raise CommandError(f"a service named {args.name!r} already exists")
            try:
                service = await create_service(session, args.name, ServiceKind(args.kind))
            except AdminError as exc:
                raise CommandError(str(exc)) from None
            await session.commit()
    finally:
        await engine.dispose()
    print(service.id)
    return 0


async def service_update(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.cli import parse_uuid

    service_id = parse_uuid(args.service_id, "SERVICE_ID")
    changes = {
        name: getattr(args, name)
        for name in (
            "sms_sender",
            "email_from",
            "reply_domain",
            "contact_text",
            "sms_per_second",
            "daily_limit",
            "broadcast_approval_threshold",
            "timezone",
            "quiet_hours",
            "callback_url",
            "callback_token",
            "inbound_callback_url",
            "inbound_callback_token",
            "returned_letter_callback_url",
            "returned_letter_callback_token",
            "letter_contact_block",
        )
        if getattr(args, name) is not None
    }
    if args.letter_logo is not None:
        try:
            changes["letter_logo"] = await asyncio.to_thread(Path(args.letter_logo).read_bytes)
        except OSError as exc:
            raise CommandError(f"cannot read {args.letter_logo}: {exc.strerror}") from None
    follows = {"follows": args.follows, "unfollows": args.unfollows}
    if not changes and not any(follows.values()):
        raise CommandError("nothing to change: give at least one option (see --help)")
    if any(follows.values()):
        print(await _service_follows(settings, service_id, follows))
        if not changes:
            return 0
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            try:
                changed = await update_service(session, Vault(settings.secret), service_id, **changes)
            except AdminError as exc:
                raise CommandError(str(exc)) from None
            await session.commit()
    finally:
        await engine.dispose()
    print(f"service {service_id}: updated {', '.join(changed)}")
    return 0


async def _service_follows(settings: Settings, service_id: uuid.UUID, follows: dict[str, str | None]) -> str:
    """`--follows` / `--unfollows`: the victim-services unit follows an offender-facing service (gateway.victims)."""
    from gateway.cli import parse_uuid
    from gateway.victims.links import LinkError, follow, unfollow

    engine = engine_from_settings(settings)
    lines = []
    try:
        async with session_factory(engine)() as session:
            try:
                if follows["follows"]:
                    other = parse_uuid(follows["follows"], "--follows")
                    new = await follow(session, service_id, other)
                    lines.append(f"service {service_id}: {'now follows' if new else 'already follows'} {other}")
                if follows["unfollows"]:
                    other = parse_uuid(follows["unfollows"], "--unfollows")
                    gone = await unfollow(session, service_id, other)
                    lines.append(f"service {service_id}: {'no longer follows' if gone else 'did not follow'} {other}")
            except LinkError as exc:
                raise CommandError(str(exc)) from None
            await session.commit()
    finally:
        await engine.dispose()
    return "\n".join(lines)


async def events_import(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway events import FILE --service ID` (gateway.victims.importer)."""
    from gateway.cli import parse_uuid
    from gateway.directory.sheets import SheetError, read_sheet
    from gateway.jobs.context import close_job_context, open_job_context
    from gateway.victims.importer import enqueue_fan_outs, import_events

    service_id = parse_uuid(args.service_id, "SERVICE_ID")
    try:
        data = await asyncio.to_thread(Path(args.file).read_bytes)
        sheet = read_sheet(data, args.file)
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    except SheetError as exc:
        raise CommandError(str(exc)) from None
    ctx = await open_job_context(settings, with_senders=False)
    try:
        report = await import_events(ctx, service_id, sheet, dry_run=args.dry_run, skip_bad_rows=args.skip_bad_rows)
        if settings.redis_url and report.event_ids:
            await enqueue_fan_outs(ctx, report.event_ids)
    finally:
        await close_job_context(ctx)
    for line in report.errors:
        print(line)
    verb = "checked" if args.dry_run else "imported"
    print(
        f"events: {report.rows} rows {verb}; {report.new} new, {report.repeated} already known,"
        f" {len(report.errors)} problems"
    )
    if report.new and not settings.redis_url:
        print("the running gateway's sweeper fans the new events out within a minute")
    return 1 if report.errors and not args.skip_bad_rows else 0


async def key_create(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.cli import parse_uuid

    service_id = parse_uuid(args.service_id, "SERVICE_ID")
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            try:
                key = await create_api_key(
                    session, Vault(settings.secret), service_id, args.name, KeyType(args.key_type)
                )
            except AdminError as exc:
                raise CommandError(str(exc)) from None
            await session.commit()
    finally:
        await engine.dispose()
    print(key)
    return 0


async def key_list(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway key list SERVICE_ID` (see gateway.key_admin)."""
    from gateway.operator import key_list

    return await key_list(settings, args)


async def key_revoke(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway key revoke SERVICE_ID KEY` (see gateway.key_admin)."""
    from gateway.operator import key_revoke

    return await key_revoke(settings, args)


async def demo(settings: Settings, args: argparse.Namespace) -> int:
    """Create (or reuse) the demo service and its demo data; print a fresh API key and staff login."""
    from gateway.demo_data import seed_demo

    if not settings.scaled:
        await upgrade_async(settings.database_url)
    await _sync(settings)
    engine = engine_from_settings(settings)
    vault = Vault(settings.secret)
    try:
        async with session_factory(engine)() as session:
            service = await session.scalar(select(Service).where(Service.name == DEMO_SERVICE))
            if service is None:
                service = await create_service(session, DEMO_SERVICE, actor="demo")
                await session.flush()
            key = await _demo_key(session, vault, service.id)
            await session.commit()
        login = await seed_demo(settings, engine, session_factory(engine), service.id)
    finally:
        await engine.dispose()
    sandbox = "sandbox" if settings.sms_sandbox else "Twilio"
    print(f"""
Gateway demo data is ready.
  URL:         {settings.base_url}
  Service:     {DEMO_SERVICE} ({service.id})
  API key:     {key}
  SMS channel: {sandbox}; email: {"sandbox" if settings.email_sandbox else settings.smtp_host}
  API docs:    {settings.base_url}/v2/openapi.json

Staff sign-in: {settings.base_url}/login
  Email:       {login.email}
  Password:    {login.password}
  (The first sign-in shows a QR code to scan with your authenticator app; later sign-ins ask for its code.)
  Then open {settings.base_url}/sandbox?person={login.person_id} to reply as Jordan Rivera
  (case CASE-1001), and see the reply arrive in the inbox and on {settings.base_url}/cases/CASE-1001.

Try it with the official GOV.UK Notify client (pip install notifications-python-client):
  from notifications_python_client.notifications import NotificationsAPIClient
  client = NotificationsAPIClient("{key}", base_url="{settings.base_url}")
  client.get_all_templates()
""")
    return 0


async def _demo_key(session: AsyncSession, vault: Vault, service_id: uuid.UUID) -> str:
    """The demo's live key: the one an earlier run made if it is still active, else a new one.
    (Every `./dev run` used to add another live key.)"""
    existing = await session.scalar(
        select(ApiKey)
        .where(
            ApiKey.service_id == service_id,
            ApiKey.created_by == "demo",
            ApiKey.key_type == KeyType.LIVE.value,
            ApiKey.revoked_at.is_(None),
        )
        .order_by(ApiKey.created_at.desc())
        .limit(1)
    )
    if existing is not None:
        return f"{existing.name}-{service_id}-{vault.open(existing.secret_enc)}"
    return await create_api_key(session, vault, service_id, f"demo_{secrets.token_hex(3)}", KeyType.LIVE, actor="demo")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password: give it on standard input with --password-stdin")
    try:
        first = getpass.getpass("Password (12 characters or more): ")
        again = getpass.getpass("Same password again: ")
    except EOFError:
        raise CommandError("no password given (end of input)") from None
    if again != first:
        raise CommandError("the two passwords are not the same")
    return first


async def staff_create(settings: Settings, args: argparse.Namespace) -> int:
    """Create a staff account for the web interface and print its id; 2FA is set up at first sign-in."""
    from gateway.cli import parse_uuid
    from gateway.web.passwords import Passwords
    from gateway.web.staff_accounts import StaffProblems, add_staff, check_new_staff

    service_id = parse_uuid(args.service_id, "SERVICE_ID")
    password = _read_password(args.password_stdin)
    try:
        email, name, roles = check_new_staff(args.email, args.name, args.roles, password)
    except StaffProblems as exc:
        raise CommandError("; ".join(exc.problems)) from None
    password_hash = await asyncio.to_thread(Passwords.from_settings(settings).hash_blocking, password)
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            try:
                user = await add_staff(
                    session,
                    service_id=service_id,
                    email=email,
                    name=name,
                    roles=roles,
                    password_hash=password_hash,
                    actor="cli",
                )
            except StaffProblems as exc:
                raise CommandError("; ".join(exc.problems)) from None
            await session.commit()
    finally:
        await engine.dispose()
    print(user.id)
    return 0


def serve_blocking(settings: Settings, args: argparse.Namespace) -> int:
    """Run the server until interrupted. Embedded mode migrates and loads templates first.

    The port is bound and Redis (scaled mode) reached *before* anything is written, so a port in
    use or Redis down is one clear line and exit 2, not a traceback after the demo data was changed.
    """
    from gateway.app import create_app
    from gateway.cli import event_loop_factory, tune_gc

    configure_logging(settings.log_level, settings.log_format)
    sock = _listening_socket(settings.host, settings.port)
    try:
        if settings.redis_url:
            problem = asyncio.run(_redis_problem(settings.redis_url))
            if problem:
                raise CommandError(f"cannot reach Redis at GATEWAY_REDIS_URL ({problem}); is it running?")
        if args.demo:
            asyncio.run(demo(settings, args))
        elif not settings.scaled:
            asyncio.run(migrate(settings, args))
        app = create_app(settings)
        if args.demo:
            app.on_startup.append(_deliver_demo_welcome)
    except BaseException:
        sock.close()
        raise
    print(f"gateway: listening on {settings.base_url} (Ctrl-C to stop)", flush=True)
    tune_gc()
    loop = event_loop_factory(settings)()
    web.run_app(app, sock=sock, print=None, access_log=None, loop=loop)
    return 0


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bind GATEWAY_HOST:GATEWAY_PORT now; CommandError naming the address if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or type(exc).__name__
        raise CommandError(
            f"cannot listen on {host}:{port}: {reason.lower()} (another program uses it? set GATEWAY_PORT)"
        ) from None
    sock.set_inheritable(False)
    return sock


async def _redis_problem(url: str) -> str | None:
    """None when Redis answers PING, else the kind of failure (never the URL: it may hold a password)."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client: Redis = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
        return None
    except (RedisError, OSError) as exc:
        return type(exc).__name__
    finally:
        await client.aclose()


async def _deliver_demo_welcome(app: web.Application) -> None:
    """The demo's welcome text was committed before the queue existed: enqueue it now, not at the next sweep."""
    from gateway import keys
    from gateway.db import Notification
    from gateway.demo_data import DEMO_KEY
    from gateway.domain import NotificationStatus
    from gateway.jobs.delivery import enqueue_deliveries

    async with app[keys.SESSIONS]() as session:
        ids = (
            await session.scalars(
                select(Notification.id).where(
                    Notification.idempotency_key == DEMO_KEY, Notification.status == NotificationStatus.CREATED.value
                )
            )
        ).all()
    if ids:
        await enqueue_deliveries(app[keys.QUEUE], list(ids))


async def record_verify(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway record verify CASE_REF [--service ID]` (see gateway.operator)."""
    from gateway.operator import record_verify

    return await record_verify(settings, args)


async def letters_batch(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway letters batch [--now] [--service ID]` (see gateway.letters.cli)."""
    from gateway.letters.cli import letters_batch

    return await letters_batch(settings, args)


async def letters_returned(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway letters returned FILE [--service ID]` (see gateway.letters.cli)."""
    from gateway.letters.cli import letters_returned

    return await letters_returned(settings, args)


async def letters_tracking(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway letters tracking FILE [--service ID]` (see gateway.letters.cli)."""
    from gateway.letters.cli import letters_tracking

    return await letters_tracking(settings, args)


async def inbound_replay(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway inbound replay ID... | --all-failed` (see gateway.operator)."""
    from gateway.operator import inbound_replay

    return await inbound_replay(settings, args)


async def import_people(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway import people FILE --service ID` (see gateway.directory.command)."""
    from gateway.cli import parse_uuid
    from gateway.directory.command import run_import

    return await run_import(settings, args, "people", parse_uuid(args.service_id, "--service"))


async def import_cases(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway import cases FILE --service ID [--full [--force]]` (see gateway.directory.command)."""
    from gateway.cli import parse_uuid
    from gateway.directory.command import run_import

    return await run_import(settings, args, "cases", parse_uuid(args.service_id, "--service"))


async def import_appointments(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway import appointments FILE --service ID [--full [--force]]` (see gateway.appointments.importer)."""
    from gateway.cli import parse_uuid
    from gateway.directory.command import run_import

    return await run_import(settings, args, "appointments", parse_uuid(args.service_id, "--service"))


def _when(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{what} must be an ISO 8601 time such as 2026-12-05T14:00, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def notifications_retry(settings: Settings, args: argparse.Namespace) -> int:
    """Re-queue failed notifications that no provider ever took; `--dry-run` only counts."""
    from gateway.cli import parse_uuid
    from gateway.domain import NotificationStatus
    from gateway.jobs.retry_failed import RetryScope, count_retry, retry_failed

    if not args.ids and not args.statuses and not (args.since or args.until):
        raise CommandError("say which: notification ids, or --status and/or --since/--until")
    scope = RetryScope(
        ids=[parse_uuid(i, "ID") for i in args.ids],
        statuses=[NotificationStatus(s) for s in args.statuses or []],
        since=_when(args.since, "--since"),
        until=_when(args.until, "--until"),
        service_id=parse_uuid(args.service, "--service") if args.service else None,
    )
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            count = await count_retry(session, scope)
            skipped = f"{count.taken} skipped: a provider took them (they may have been delivered)"
            if args.dry_run:
                print(f"would re-queue {count.retryable} of {count.matched} failed; {skipped}")
                return 0
            ids = await retry_failed(session, scope)
            await session.commit()
    finally:
        await engine.dispose()
    if ids and settings.redis_url:
        from gateway.jobs.delivery import enqueue_delivery_batches
        from gateway.jobs.queue import ArqQueue

        queue = await ArqQueue.connect(settings)
        try:
            await enqueue_delivery_batches(queue, ids, settings.delivery_batch_size)
        finally:
            await queue.close()
    where = "queued for delivery" if settings.redis_url else "the server's sweeper sends them within a minute or two"
    print(f"re-queued {len(ids)} of {count.matched} failed ({where}); {skipped}")
    return 0


async def notifications_held(settings: Settings, args: argparse.Namespace) -> int:
    """Per paused sender: its breaker's state (scaled mode) and the messages held for it."""
    from gateway.cli import parse_uuid
    from gateway.jobs.breaker import RedisBreaker
    from gateway.jobs.held import held_counts

    service_id = parse_uuid(args.service, "--service") if args.service else None
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            held = await held_counts(session, service_id)
    finally:
        await engine.dispose()
    states: dict[str, str] = {}
    if settings.redis_url:
        from gateway.jobs.queue import ArqQueue

        queue = await ArqQueue.connect(settings)
        try:
            breaker = RedisBreaker(queue.redis, settings.redis_prefix, settings.breaker_failures, 1.0)
            states = {b.key: str(b.state) for b in await breaker.status()}
        finally:
            await queue.close()
    if not held and not states:
        print("no sender is paused; no message is held")
        return 0
    for key in sorted({k for k, _, _ in held} | set(states)):
        count, since = next(((c, s) for k, c, s in held if k == key), (0, None))
        state = states.get(key, "see the server's log (embedded)" if not settings.redis_url else "closed")
        print(f"{key}  state: {state}  held: {count}  waiting since: {since or '-'}")
    return 0


async def reminders_show(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway reminders show SERVICE_ID` (see gateway.appointments.cli)."""
    from gateway.appointments.cli import reminders_show

    return await reminders_show(settings, args)


async def reminders_set(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway reminders set SERVICE_ID KIND STEPS [--off]` (see gateway.appointments.cli)."""
    from gateway.appointments.cli import reminders_set

    return await reminders_set(settings, args)


async def reminders_reset(settings: Settings, args: argparse.Namespace) -> int:
    """`gateway reminders reset SERVICE_ID KIND` (see gateway.appointments.cli)."""
    from gateway.appointments.cli import reminders_reset

    return await reminders_reset(settings, args)


async def broadcast_status(settings: Settings, args: argparse.Namespace) -> int:
    """A broadcast's progress as a text bar (`gateway.broadcasts.progress`); with --watch, until it stops."""
    from gateway.broadcasts.cli import print_status

    return await print_status(settings, args.id, watch=args.watch)
