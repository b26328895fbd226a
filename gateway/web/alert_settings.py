"""`/account/alerts`: the signed-in member of staff's own alerts and out-of-office (`gateway.alerts`).

* an email when a client writes (never the message);
* a daily digest of replies unanswered for more than N hours (off, 4, 8, 24 or 48);
* an absence: first and last day (whole days on the service's clock), the auto-reply clients get
  once during it, and the colleague whose inbox gets their replies meanwhile.

A form with a mistake comes back with the reason (400) and nothing stored; a saved form redirects
(POST-redirect-GET) with a status message, and the change is audited.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select

from gateway import keys
from gateway.db import StaffUser
from gateway.localtime import day_start, to_local
from gateway.text_input import is_visible
from gateway.web import audit
from gateway.web.access import signed_in
from gateway.web.render import render_page, see_other

routes = web.RouteTableDef()
DIGEST_HOURS = (4, 8, 24, 48)
MAX_REPLY = 320  # two text messages: an auto-reply should be short
MAX_ABSENCE_DAYS = 366


async def _colleagues(request: web.Request) -> list[StaffUser]:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        rows = await db.scalars(
            select(StaffUser)
            .where(StaffUser.service_id == staff.service_id, StaffUser.active.is_(True), StaffUser.id != staff.user_id)
            .order_by(StaffUser.name)
        )
        return list(rows.all())


async def _page(
    request: web.Request, form: dict[str, str] | None = None, errors: list[str] | None = None
) -> web.Response:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        user = await db.get(StaffUser, staff.user_id)
    assert user is not None
    tz = staff.service.timezone
    if form is None:
        last_day = to_local(user.away_until - timedelta(seconds=1), tz).date() if user.away_until else None
        form = {
            "alert_new_messages": "yes" if user.alert_new_messages else "",
            "digest_after_hours": str(user.digest_after_hours or ""),
            "away_from": to_local(user.away_from, tz).date().isoformat() if user.away_from else "",
            "away_until": last_day.isoformat() if last_day else "",
            "out_of_office": user.out_of_office or "",
            "covering_staff_id": str(user.covering_staff_id or ""),
        }
    notice = "Your alerts have been saved." if request.query.get("done") == "saved" else None
    return render_page(
        request,
        "alerts.html",
        status=400 if errors else 200,
        title="Your alerts and out of office",
        form=form,
        errors=errors or [],
        notice=notice,
        digest_hours=DIGEST_HOURS,
        colleagues=await _colleagues(request),
        max_reply=MAX_REPLY,
    )


@routes.get("/account/alerts")
async def alerts_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def _day(raw: str, label: str, errors: list[str]) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        errors.append(f"The {label} must be a date such as 2030-01-31.")
        return None


@routes.post("/account/alerts")
async def save_alerts(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    posted = await request.post()
    form = {k: str(posted.get(k, "") or "").strip() for k in (
        "alert_new_messages", "digest_after_hours", "away_from", "away_until", "out_of_office", "covering_staff_id"
    )}  # fmt: skip
    errors: list[str] = []
    hours = None
    if form["digest_after_hours"]:
        hours = int(form["digest_after_hours"]) if form["digest_after_hours"].isdigit() else -1
        if hours not in DIGEST_HOURS:
            errors.append("Choose how long a reply waits before it is in your digest.")
    first, last = _day(form["away_from"], "first day away", errors), _day(form["away_until"], "last day away", errors)
    if (first is None) != (last is None):
        errors.append("Give both the first and the last day you are away, or neither.")
    elif first and last and last < first:
        errors.append("The last day away cannot be before the first.")
    elif first and last and (last - first).days > MAX_ABSENCE_DAYS:
        errors.append("An absence can be at most a year.")
    reply = form["out_of_office"]
    if reply and not is_visible(reply):
        reply = ""
    if len(reply) > MAX_REPLY:
        errors.append(f"The auto-reply can be at most {MAX_REPLY} characters.")
    if first and not reply:
        errors.append("Write the auto-reply clients get while you are away.")
    colleagues = {str(u.id): u for u in await _colleagues(request)}
    cover = colleagues.get(form["covering_staff_id"]) if form["covering_staff_id"] else None
    if form["covering_staff_id"] and cover is None:
        errors.append("Choose a colleague in this service to cover for you.")
    if errors:
        return await _page(request, form, errors)
    tz = staff.service.timezone
    values: dict[str, Any] = {
        "alert_new_messages": form["alert_new_messages"] == "yes",
        "digest_after_hours": hours,
        "away_from": day_start(first, tz) if first else None,
        "away_until": day_start(last + timedelta(days=1), tz) if last else None,
        "out_of_office": reply or None,
        "covering_staff_id": uuid.UUID(str(cover.id)) if cover else None,
    }
    async with request.app[keys.SESSIONS]() as db:
        user = await db.get(StaffUser, staff.user_id)
        assert user is not None
        for name, value in values.items():
            setattr(user, name, value)
        detail = {k: v for k, v in values.items() if k != "out_of_office"} | {"out_of_office": bool(reply)}
        audit.by_staff(db, request, staff, "staff.alerts", target=str(staff.user_id),
                       detail={k: str(v) if v is not None else None for k, v in detail.items()})  # fmt: skip
        await db.commit()
    raise see_other("/account/alerts?done=saved")
