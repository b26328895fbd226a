"""The audit log page, `/admin/audit`: the service's audit entries, newest first, for admins and supervisors.

Other roles get 403, like every admin page (`require_role`). Every query is scoped to the
signed-in staff member's service. Filters come from the query string: `action` (exact, or a
prefix when it ends in "." such as `login.`), `actor` (a staff member of the service, by id),
`from` / `to` (dates on the service's wall clock, both inclusive). Pages hold 100 entries;
"Older entries" pages by keyset on (at, id) with `older_than=<entry id>`, the pattern of
`gateway.api.paging`. A bad filter is a 400 page naming the problem. Each view is audited
("audit.view", with the filters in its detail).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.db import AuditEntry, StaffUser
from gateway.domain import Role
from gateway.localtime import day_start
from gateway.web import audit
from gateway.web.access import require_role, signed_in
from gateway.web.context import StaffContext
from gateway.web.render import render_page

routes = web.RouteTableDef()

PAGE_SIZE = 100
ACTION = re.compile(r"[a-z0-9_.:-]{1,64}")
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)  # dates outside cannot bound a stored time
MAX_VALUE = 200  # characters of one detail value shown; the rest is cut with "…"


class FilterProblems(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What the page shows; every field empty means the whole log, newest first."""

    action: str = ""
    actor: uuid.UUID | None = None
    since: date | None = None
    until: date | None = None
    older_than: int | None = None

    @property
    def action_is_prefix(self) -> bool:
        return self.action.endswith(".")

    def params(self, **changes: object) -> dict[str, str]:
        """The filter as query-string values (empty ones left out)."""
        values = {
            "action": self.action,
            "actor": str(self.actor) if self.actor else "",
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "",
            "older_than": str(self.older_than) if self.older_than is not None else "",
        }
        values.update({key: str(value) for key, value in changes.items()})
        return {key: value for key, value in values.items() if value}

    def detail(self) -> dict[str, str]:
        """What the "audit.view" entry records: the filters, the actor by id as the log names people."""
        params = self.params()
        if self.actor:
            params["actor"] = audit.staff_actor(self.actor)
        return params


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: list[tuple[str, str]]


def _date(raw: str, label: str, problems: list[str]) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is None or not EARLIEST <= day <= LATEST:
        problems.append(f"{label} must be a date such as 2024-03-31.")
        return None
    return day


def parse_filter(query: Mapping[str, str], staff_ids: Mapping[uuid.UUID, str]) -> AuditFilter:
    """The filter from the query string; FilterProblems listing every bad value."""
    problems: list[str] = []
    action = query.get("action", "").strip()
    if action and not ACTION.fullmatch(action):
        problems.append(
            'Action must be an action name such as "login.failed", or its start such as "login." '
            "(lower-case letters, digits and . _ : - only, up to 64 characters)."
        )
    actor: uuid.UUID | None = None
    if raw_actor := query.get("actor", "").strip():
        try:
            actor = uuid.UUID(raw_actor)
        except ValueError:
            actor = None
        if actor not in staff_ids:
            problems.append("Choose who from the list of staff of this service.")
    since = _date(query.get("from", "").strip(), "From", problems)
    until = _date(query.get("to", "").strip(), "To", problems)
    if since and until and since > until:
        problems.append("From must be on or before To.")
    older_than: int | None = None
    if raw_older := query.get("older_than", "").strip():
        if raw_older.isdigit() and len(raw_older) <= 18:
            older_than = int(raw_older)
        else:
            problems.append("The link to older entries is not valid. Start again from the first page.")
    if problems:
        raise FilterProblems(problems)
    return AuditFilter(action, actor, since, until, older_than)


async def _entries(db: AsyncSession, staff: StaffContext, where: AuditFilter) -> tuple[list[AuditEntry], bool]:
    """One page of the service's entries, newest first, and whether there are older ones."""
    scope: list[ColumnElement[bool]] = [AuditEntry.service_id == staff.service_id]
    conditions: list[ColumnElement[bool]] = []
    if where.action:
        conditions.append(
            AuditEntry.action.startswith(where.action, autoescape=True)
            if where.action_is_prefix
            else AuditEntry.action == where.action
        )
    if where.actor:
        conditions.append(AuditEntry.actor == audit.staff_actor(where.actor))
    if where.since:
        conditions.append(AuditEntry.at >= day_start(where.since, staff.service.timezone))
    if where.until:
        conditions.append(AuditEntry.at < day_start(where.until + timedelta(days=1), staff.service.timezone))
    if where.older_than is not None:
        # Keyset paging as in gateway.api.paging: the anchor row (of this service only) bounds the page.
        anchor = (
            await db.execute(select(AuditEntry.at, AuditEntry.id).where(AuditEntry.id == where.older_than, *scope))
        ).first()
        if anchor is None:
            return [], False
        conditions.append(or_(AuditEntry.at < anchor[0], and_(AuditEntry.at == anchor[0], AuditEntry.id < anchor[1])))
    stmt = (
        select(AuditEntry)
        .where(*scope, *conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(PAGE_SIZE + 1)
    )
    rows = list((await db.scalars(stmt)).all())
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def _value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = ", ".join(str(v) for v in value)
    else:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def detail_pairs(detail: Any) -> list[tuple[str, str]]:
    """An entry's detail JSON as (key, value) text pairs, for a compact key=value list."""
    if detail is None or detail == {}:
        return []
    if not isinstance(detail, dict):
        return [("detail", _value(detail))]
    return [(str(key), _value(value)) for key, value in detail.items()]


def _named(value: str | None, names: Mapping[uuid.UUID, str]) -> str:
    """`staff:<uuid>` (or a bare staff id as a target) as the staff member's name; anything else as it is."""
    if not value:
        return ""
    raw = value.removeprefix("staff:")
    try:
        person = uuid.UUID(raw)
    except ValueError:
        return value
    return names.get(person, value)


def _rows(entries: list[AuditEntry], names: Mapping[uuid.UUID, str]) -> list[Row]:
    return [
        Row(
            id=e.id,
            at=e.at,
            actor=_named(e.actor, names) if e.actor.startswith("staff:") else e.actor,
            action=e.action,
            target=_named(e.target, names),
            outcome=e.outcome,
            detail=detail_pairs(e.detail),
        )
        for e in entries
    ]


async def _staff_names(db: AsyncSession, staff: StaffContext) -> dict[uuid.UUID, str]:
    """Every member of staff of the service by id, in name order: the actor list and the names shown."""
    people = await db.execute(
        select(StaffUser.id, StaffUser.name)
        .where(StaffUser.service_id == staff.service_id)
        .order_by(StaffUser.name, StaffUser.id)
    )
    return {person_id: name for person_id, name in people.all()}


@routes.get("/admin/audit")
async def audit_log(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    require_role(staff, Role.ADMIN, Role.SUPERVISOR)
    status, errors = 200, []
    rows: list[Row] = []
    older_link = ""
    async with request.app[keys.SESSIONS]() as db:
        names = await _staff_names(db, staff)
        try:
            where = parse_filter(request.query, names)
        except FilterProblems as exc:
            status, errors, where = 400, exc.problems, AuditFilter()
        else:
            entries, more = await _entries(db, staff, where)
            rows = _rows(entries, names)
            if more:
                older_link = "/admin/audit?" + urlencode(where.params(older_than=entries[-1].id))
            audit.by_staff(db, request, staff, "audit.view", detail=where.detail() or None)
            await db.commit()
    form = {key: request.query.get(key, "").strip()[:64] for key in ("action", "actor", "from", "to")}
    return render_page(
        request,
        "admin_audit.html",
        status=status,
        title="Audit log",
        errors=errors,
        rows=rows,
        people=list(names.items()),
        form=form,
        filtered=bool(where.params(older_than="")) and not errors,
        paged=where.older_than is not None,
        older_link=older_link,
        first_link="/admin/audit?" + urlencode(where.params(older_than="")) if where.older_than is not None else "",
    )
