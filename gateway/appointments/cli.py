"""`gateway reminders show SERVICE_ID`, `gateway reminders set SERVICE_ID KIND STEPS [--off]` and
`gateway reminders reset SERVICE_ID KIND`: the service's reminder plans from the command line, as the
admin page `/admin/reminders` edits them (same checks; audited with actor `cli`)."""

from __future__ import annotations

import argparse

from gateway.appointments import AppointmentKind
from gateway.appointments.plans import (
    SOURCES,
    BadPlan,
    parse_steps_text,
    plans_for,
    reset_plan,
    save_plan,
    steps_text,
)
from gateway.db.engine import engine_from_settings, session_factory
from gateway.settings import Settings
from gateway.web import audit


async def reminders_show(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.cli import parse_uuid

    service_id = parse_uuid(args.service_id, "SERVICE_ID")
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            plans = await plans_for(session, [(service_id, k.value) for k in AppointmentKind])
    finally:
        await engine.dispose()
    for kind in AppointmentKind:
        plan = plans[(service_id, kind.value)]
        steps = steps_text(plan.steps) if plan.steps else "off"
        print(f"{kind.value:14} {steps:22} {'default: ' + SOURCES[kind] if plan.default else 'own plan'}")
    return 0


async def reminders_set(settings: Settings, args: argparse.Namespace) -> int:
    return await _change(settings, args, reset=False)


async def reminders_reset(settings: Settings, args: argparse.Namespace) -> int:
    return await _change(settings, args, reset=True)


async def _change(settings: Settings, args: argparse.Namespace, *, reset: bool) -> int:
    from gateway.cli import parse_uuid
    from gateway.commands import CommandError

    service_id = parse_uuid(args.service_id, "SERVICE_ID")
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            try:
                if reset:
                    await reset_plan(session, service_id, args.kind)
                    detail = {"kind": args.kind}
                    said = f"{args.kind}: the default plan applies"
                else:
                    enabled = not args.off
                    steps = await save_plan(
                        session, service_id, args.kind, parse_steps_text(args.steps), enabled=enabled
                    )
                    detail = {"kind": args.kind, "steps": steps_text(steps), "enabled": str(enabled)}
                    said = f"{args.kind}: {steps_text(steps)}" + ("" if enabled else " (off: no reminders are sent)")
            except BadPlan as exc:
                raise CommandError(str(exc)) from None
            audit.record(
                session,
                action="reminder_plan.reset" if reset else "reminder_plan.update",
                actor="cli",
                service_id=service_id,
                source_ip=None,
                target=args.kind,
                detail=detail,
            )
            await session.commit()
    finally:
        await engine.dispose()
    print(said)
    return 0
