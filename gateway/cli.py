"""The `gateway` command: serve, migrate, demo, service and key management, template checks.

Every command reads the same settings as the server; a bad setting is one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from gateway.settings import Settings, SettingsError, load_settings

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Criminal-justice messaging gateway")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web server (and the in-process queue in embedded mode)")
    serve.add_argument("--demo", action="store_true", help="create demo data first and print how to use it")
    worker = sub.add_parser("worker", help="run an arq worker that delivers queued jobs (scaled mode; needs Redis)")
    worker.add_argument("--burst", action="store_true", help="stop once the queue is empty (tests, one-off runs)")
    sub.add_parser("migrate", help="bring the database schema up to date and load templates/")
    sub.add_parser("demo", help="create demo data (service, API keys) and print how to use it")

    service = sub.add_parser("service", help="manage services").add_subparsers(dest="action", required=True)
    create = service.add_parser("create", help="create a service and print its id")
    create.add_argument("name")
    create.add_argument("--kind", choices=["supervision", "reentry", "victim_services"], default="supervision")

    update = service.add_parser("update", help="set a service's senders, limits and callbacks")
    update.add_argument("service_id")
    update.add_argument("--sms-sender", help="Twilio From number (+E.164) or Messaging Service SID (MG...)")
    update.add_argument("--email-from", help="From address for email")
    update.add_argument("--reply-domain", help="domain of reply addresses that route email replies back")
    update.add_argument("--contact-text", help="the reply to HELP / INFO texts")
    update.add_argument("--sms-per-second", type=int, help="per-sender SMS rate (Twilio's messages per second)")
    update.add_argument("--daily-limit", type=int, help="messages a day before the API answers 429")
    update.add_argument(
        "--broadcast-approval-threshold", type=int, help="a broadcast to more people needs a second person's approval"
    )
    update.add_argument("--timezone", help="IANA time zone for staff pages and scheduled sends, e.g. America/Chicago")
    update.add_argument(
        "--quiet-hours",
        help="local hours the gateway may text on its own: HH:MM-HH:MM, federal (08:00-21:00) or strict (09:00-20:00)",
    )
    update.add_argument("--callback-url", help="delivery receipts are POSTed here (https)")
    update.add_argument("--callback-token", help="bearer token sent with delivery receipts")
    update.add_argument("--inbound-callback-url", help="received texts are POSTed here (https)")
    update.add_argument("--inbound-callback-token", help="bearer token sent with received texts")
    update.add_argument("--returned-letter-callback-url", help="returned letters are POSTed here (https)")
    update.add_argument("--returned-letter-callback-token", help="bearer token sent with returned letters")
    update.add_argument("--letter-contact-block", help=r"return address and letterhead lines, '\n' between lines")
    update.add_argument("--letter-logo", metavar="PATH", help="letterhead logo: a PNG or JPEG file (at most 512 KB)")
    update.add_argument("--follows", metavar="SERVICE_ID", help="victim services: follow this offender-facing service")
    update.add_argument("--unfollows", metavar="SERVICE_ID", help="victim services: stop following this service")

    key = sub.add_parser("key", help="manage API keys").add_subparsers(dest="action", required=True)
    key_create = key.add_parser("create", help="create an API key and print it (shown once)")
    key_create.add_argument("service_id")
    key_create.add_argument("--name", required=True)
    key_create.add_argument("--type", dest="key_type", choices=["live", "team", "test"], default="live")
    key_list = key.add_parser("list", help="list a service's API keys: type, creator, last use, revoked")
    key_list.add_argument("service_id")
    key_revoke = key.add_parser("revoke", help="revoke an API key (every process refuses it within 5 seconds)")
    key_revoke.add_argument("service_id")
    key_revoke.add_argument("key", metavar="KEY", help="the key's id or name (as `gateway key list` shows)")

    staff = sub.add_parser("staff", help="manage staff accounts (web interface)").add_subparsers(
        dest="action", required=True
    )
    staff_create = staff.add_parser(
        "create", help="create a staff account and print its id (2FA is set up at first sign-in)"
    )
    staff_create.add_argument("--service", dest="service_id", required=True, metavar="SERVICE_ID")
    staff_create.add_argument("--email", required=True)
    staff_create.add_argument("--name", required=True)
    staff_create.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        choices=["officer", "victim_advocate", "supervisor", "admin"],
        help="repeat for several roles",
    )
    staff_create.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of standard input"
    )

    templates = sub.add_parser("templates", help="message templates").add_subparsers(dest="action", required=True)
    templates.add_parser("check", help="render every template with sample data; fail on any error")
    templates.add_parser("sync", help="load templates/ into the database (new versions for changed files)")

    record = sub.add_parser("record", help="case records").add_subparsers(dest="action", required=True)
    verify = record.add_parser("verify", help="check a case record's hash chain; exit 1 naming the first bad entry")
    verify.add_argument("case_ref", metavar="CASE_REF")
    verify.add_argument("--service", metavar="SERVICE_ID", help="needed when the reference exists in several services")

    directory = sub.add_parser("import", help="import people, cases or appointments from a CSV or XLSX export")
    kinds = directory.add_subparsers(dest="action", required=True)
    for kind, help_text in (
        ("people", "upsert people by external_id"),
        ("cases", "upsert cases by reference"),
        ("appointments", "upsert appointments by external_id"),
    ):
        one = kinds.add_parser(kind, help=help_text + " (every row is checked before any is written)")
        one.add_argument("file", metavar="FILE", help=".csv (UTF-8) or .xlsx; columns in the README")
        one.add_argument("--service", dest="service_id", required=True, metavar="SERVICE_ID")
        one.add_argument("--dry-run", action="store_true", help="report creates / updates / unchanged; write nothing")
        one.add_argument("--skip-bad-rows", action="store_true", help="write the good rows even if some are bad")
        one.add_argument("--quiet", action="store_true", help="no progress bar")
        if kind == "cases":
            one.add_argument("--full", action="store_true", help="full refresh: close open cases missing from FILE")
            one.add_argument("--force", action="store_true", help="with --full: close even more than 20%% of them")
        if kind == "appointments":
            one.add_argument(
                "--full", action="store_true", help="daily full refresh: cancel upcoming appointments missing from FILE"
            )
            one.add_argument("--force", action="store_true", help="with --full: cancel even more than 20%% of them")

    events = sub.add_parser("events", help="offender events").add_subparsers(dest="action", required=True)
    events_import = events.add_parser(
        "import", help="import offender events from a CSV or XLSX (columns in the README)"
    )
    events_import.add_argument("file", metavar="FILE")
    events_import.add_argument("--service", dest="service_id", required=True, metavar="SERVICE_ID")
    events_import.add_argument("--dry-run", action="store_true", help="check every row; write nothing")
    events_import.add_argument("--skip-bad-rows", action="store_true", help="write the good rows even if some are bad")

    notifications = sub.add_parser("notifications", help="outbound notifications").add_subparsers(
        dest="action", required=True
    )
    retry = notifications.add_parser(
        "retry", help="send failed notifications again (never one a provider took: it may have been delivered)"
    )
    retry.add_argument("ids", nargs="*", metavar="ID", help="notification ids")
    retry.add_argument(
        "--status",
        dest="statuses",
        action="append",
        choices=["temporary-failure", "technical-failure", "permanent-failure"],
        help="repeat for several; default: every failure status",
    )
    retry.add_argument("--since", help="created at or after this time (ISO 8601, UTC if no offset)")
    retry.add_argument("--until", help="created before this time (ISO 8601, UTC if no offset)")
    retry.add_argument("--service", metavar="SERVICE_ID", help="only this service's")
    retry.add_argument("--dry-run", action="store_true", help="count what would be re-queued; change nothing")
    held = notifications.add_parser("held", help="senders paused by a failing provider, and the messages held")
    held.add_argument("--service", metavar="SERVICE_ID", help="only this service's messages")

    inbound = sub.add_parser("inbound", help="inbound messages").add_subparsers(dest="action", required=True)
    replay = inbound.add_parser("replay", help="run failed inbound messages through the handlers again")
    replay.add_argument("ids", nargs="*", metavar="ID", help="inbound message ids")
    replay.add_argument("--all-failed", action="store_true", help="every message in state failed")
    replay.add_argument("--service", metavar="SERVICE_ID", help="with --all-failed: only this service's")
    letters = sub.add_parser("letters", help="letters: print batches, returned mail").add_subparsers(
        dest="action", required=True
    )
    batch = letters.add_parser("batch", help="cut the print batch of services past today's cutoff")
    batch.add_argument("--now", action="store_true", help="cut a batch of every accepted letter now")
    batch.add_argument("--service", metavar="SERVICE_ID", help="only this service")
    returned = letters.add_parser("returned", help="record returned mail from the mail house's report")
    returned.add_argument("file", metavar="FILE", help="one notification id or reference per line (CSV: first cell)")
    returned.add_argument("--service", metavar="SERVICE_ID", help="needed when the report gives references")
    tracking = letters.add_parser("tracking", help="record Certified Mail tracking numbers from the mail house")
    tracking.add_argument("file", metavar="FILE", help="CSV lines: notification id or reference, tracking number")
    tracking.add_argument("--service", metavar="SERVICE_ID", help="needed when the report gives references")
    reminders = sub.add_parser("reminders", help="appointment reminder plans per kind").add_subparsers(
        dest="action", required=True
    )
    show = reminders.add_parser("show", help="each kind's plan: the research default or the service's own")
    show.add_argument("service_id", metavar="SERVICE_ID")
    plan = reminders.add_parser("set", help='set a kind\'s steps, e.g. "7d, 1d, 0d@08:00" (see README "Reminders")')
    plan.add_argument("service_id", metavar="SERVICE_ID")
    plan.add_argument("kind", metavar="KIND", help="office_visit, drug_test, group_session, court_hearing, ...")
    plan.add_argument("steps", metavar="STEPS", help="1d, 2h, 30m before, or 0d@08:00 on the day")
    plan.add_argument("--off", action="store_true", help="keep the steps but send no reminders for this kind")
    reset = reminders.add_parser("reset", help="drop the service's own plan for a kind: the default applies")
    reset.add_argument("service_id", metavar="SERVICE_ID")
    reset.add_argument("kind", metavar="KIND")
    broadcast = sub.add_parser("broadcast", help="broadcasts").add_subparsers(dest="action", required=True)
    status = broadcast.add_parser("status", help="a broadcast's progress: queued / sent / delivered / failed")
    status.add_argument("id", metavar="ID", help="the broadcast's id")
    status.add_argument("--watch", action="store_true", help="redraw every second until it stops sending")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print("gateway: invalid settings:", file=sys.stderr)
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
        return 2
    from sqlalchemy.exc import SQLAlchemyError

    from gateway import commands  # imported late so `--help` and settings errors stay fast

    name = args.command if not hasattr(args, "action") else f"{args.command}_{args.action}"
    try:
        if name == "serve":
            return commands.serve_blocking(settings, args)
        handler: Command = getattr(commands, name)
        with asyncio.Runner(loop_factory=event_loop_factory(settings)) as runner:
            return runner.run(handler(settings, args))
    except commands.CommandError as exc:
        print(f"gateway {args.command}: {exc}", file=sys.stderr)
        return 2
    except (OSError, SQLAlchemyError) as exc:  # the database is unreachable or has no tables yet
        print(f"gateway {args.command}: {commands.database_problem(exc)}", file=sys.stderr)
        return 2


def event_loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop if GATEWAY_EVENT_LOOP allows it and it is installed (the `speed` extra), else
    asyncio's: the same code runs on both; uvloop spends less CPU on each socket read and write."""
    if settings.event_loop != "asyncio":
        try:
            import uvloop
        except ImportError:  # "uvloop" without uvloop installed is refused by the settings
            pass
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


# The cyclic garbage collector's first threshold for the long-running processes (Python's default: 700).
# A worker allocates a few hundred objects for each message it sends (ORM rows, HTTP requests), nearly
# all freed at once by reference counting; at 700 the collector ran every few messages: in
# bench/broadcast.py 22% of a worker's CPU (6.8 s of 30.7 s, timed with gc.callbacks), 1.5% at 50,000.
# Memory stays bounded: the collector still runs, every 50,000 allocations net of frees.
GC_THRESHOLD = 50_000


def tune_gc() -> None:
    """For `gateway serve` and `gateway worker`, once their modules are imported: move everything alive
    now to the collector's permanent generation (the modules, the settings, never garbage) so that no
    collection walks it again, and collect young objects less often (GC_THRESHOLD)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, older, oldest)


def parse_uuid(value: str, what: str) -> uuid.UUID:
    from gateway.commands import CommandError

    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(f"{what} must be a UUID, got {value!r}") from None
