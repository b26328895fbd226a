"""Merging a duplicate person into another: pick the duplicate, confirm naming both, merge.

* `GET /people/{id}/merge?q=` — the survivor is `{id}`; candidates are people of the service with
  the same name, or found by name, agency id or phone number (by blind index).
* `POST /people/{id}/merge` — first a confirmation naming both people; with `confirm=yes` the
  merge itself (`gateway.directory.merge`): everything moves to the survivor, a marker goes on
  every case record of either, the duplicate is retired, and the audit log says who did it.

Supervisors and admins only (403 for other roles). Either person of another service, or a victim
for a role that may not see victims, answers 404.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.crypto import Vault
from gateway.db import ContactPoint, Person
from gateway.directory.merge import MergeError, merge_people
from gateway.domain import Role
from gateway.recipients import InvalidRecipient, normalise_phone
from gateway.victim_access import victim_people
from gateway.web import audit
from gateway.web.access import can_see_victim_data, not_found, parse_id, require_role, signed_in
from gateway.web.context import StaffContext
from gateway.web.person_data import visible_person
from gateway.web.person_page import person_url
from gateway.web.render import render_page, see_other

log = structlog.get_logger()
routes = web.RouteTableDef()

MAX_CANDIDATES = 50


def _supervisor(request: web.Request) -> StaffContext:
    staff = signed_in(request)
    require_role(staff, Role.SUPERVISOR, Role.ADMIN)
    return staff


async def _candidates(
    db: AsyncSession, vault: Vault, staff: StaffContext, survivor: Person, text: str, region: str
) -> list[Person]:
    """People who may be the survivor's duplicate: the same name, or what the search finds."""
    sid = staff.service_id
    query = select(Person).where(Person.service_id == sid, Person.id != survivor.id, Person.merged_into_id.is_(None))
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions: list[Any] = [Person.display_name.ilike(f"%{escaped}%", escape="\\"), Person.external_id == text]
        try:
            index = vault.blind_index(normalise_phone(text, region))
            conditions.append(
                Person.id.in_(
                    select(ContactPoint.person_id).where(
                        ContactPoint.service_id == sid, ContactPoint.value_index == index
                    )
                )
            )
        except InvalidRecipient:
            pass
        query = query.where(or_(*conditions))
    else:
        query = query.where(Person.display_name == survivor.display_name)
    if not can_see_victim_data(staff, staff.service):
        query = query.where(Person.id.not_in(victim_people(sid)))
    return list((await db.scalars(query.order_by(Person.display_name).limit(MAX_CANDIDATES))).all())


@routes.get("/people/{person_id}/merge")
async def merge_pick(request: web.Request) -> web.StreamResponse:
    staff = _supervisor(request)
    text = request.query.get("q", "").strip()[:128]
    app = request.app
    async with app[keys.SESSIONS]() as db:
        survivor = await visible_person(db, request, staff, parse_id(request.match_info["person_id"]))
        if survivor.merged_into_id is not None:
            raise not_found()
        candidates = await _candidates(db, app[keys.VAULT], staff, survivor, text, app[keys.SETTINGS].default_region)
        await db.commit()
    return render_page(
        request,
        "person_merge.html",
        title=f"Merge a duplicate into {survivor.display_name}",
        survivor=survivor,
        candidates=candidates,
        search=text,
        duplicate=None,
    )


@routes.post("/people/{person_id}/merge")
async def merge(request: web.Request) -> web.StreamResponse:
    staff = _supervisor(request)
    form = await request.post()
    raw = form.get("duplicate_id")
    if not isinstance(raw, str) or not raw:
        raise web.HTTPBadRequest(text="Choose the duplicate.")
    survivor_id, duplicate_id = parse_id(request.match_info["person_id"]), parse_id(raw)
    async with request.app[keys.SESSIONS]() as db:
        survivor = await visible_person(db, request, staff, survivor_id, view=False)
        duplicate = await visible_person(db, request, staff, duplicate_id, view=False)
    if form.get("confirm") != "yes":
        return render_page(
            request,
            "person_merge.html",
            title="Check and confirm the merge",
            survivor=survivor,
            duplicate=duplicate,
            candidates=[],
            search="",
        )
    try:
        report = await merge_people(
            request.app[keys.SESSIONS], staff.service_id, survivor.id, duplicate.id, staff.actor
        )
    except MergeError as problem:
        return render_page(
            request,
            "person_merge.html",
            status=400,
            title=f"Merge a duplicate into {survivor.display_name}",
            survivor=survivor,
            duplicate=None,
            candidates=[],
            search="",
            errors=[str(problem)],
        )
    async with request.app[keys.SESSIONS]() as db:
        audit.by_staff(
            db,
            request,
            staff,
            "person.merge",
            target=str(survivor.id),
            detail={"duplicate_id": str(duplicate.id), "moved": report.moved, "cases": len(report.case_ids)},
        )
        await db.commit()
    log.info("person.merged", survivor_id=str(survivor.id), duplicate_id=str(duplicate.id), cases=len(report.case_ids))
    raise see_other(person_url(survivor.id, "merged"))
