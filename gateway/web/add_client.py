"""Adding a client by hand: `GET /people/new` and `POST /people/new`.

The form asks for the name (first, last, preferred), a mobile number and/or an email address,
the language, the case reference, optionally the agency's own id for the person, and "assign to
me". Every field is checked by the directory (`gateway.directory.person_fields.validate_person`:
the number normalised and refused if it cannot receive texts) and all problems are shown at once,
each beside its field; nothing is written until everything is right.

Never a silent duplicate and never a silent attach: when a person of the service already has the
number or address (`find_people_by_contact`), the page names them with a link to their page and
adds nobody; "Add anyway" (a deliberate second submit) makes a new, separate person and the audit
row says whose number it shares. A match the staff member may not see (a victim) is not named and
cannot be overridden. A case reference or agency id that already exists is refused with a link.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.db import Case, CaseParticipant, Person
from gateway.db.base import utcnow
from gateway.directory.cases import upsert_case
from gateway.directory.contacts import add_contact_point, find_people_by_contact
from gateway.directory.fields import LANGUAGES, FieldErrors
from gateway.directory.people import find_by_external_id
from gateway.directory.person_fields import PersonInput, check_external_id, validate_person
from gateway.domain import ParticipantRole
from gateway.web import audit
from gateway.web.access import can_see_victim_data, signed_in
from gateway.web.context import StaffContext
from gateway.web.person_data import is_victim
from gateway.web.person_page import person_url
from gateway.web.render import render_page, see_other

log = structlog.get_logger()
routes = web.RouteTableDef()

FIELDS = ("first_name", "last_name", "preferred_name", "phone", "email", "language", "case_reference", "external_id")
# The directory's field names (the API's) -> this form's fields, so each error sits beside its input.
FORM_FIELD = {"phone_numbers": "phone", "email_addresses": "email", "reference": "case_reference"}
LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "preferred_name": "Preferred name",
    "phone": "Mobile number",
    "email": "Email address",
    "language": "Language",
    "case_reference": "Case reference",
    "external_id": "Agency person id",
}
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}


def _page(
    request: web.Request,
    form: dict[str, str],
    *,
    problems: dict[str, str] | None = None,
    matches: list[Person] | None = None,
    hidden_match: bool = False,
    status: int = 200,
) -> web.Response:
    problems = {name: _sentence(LABELS.get(name, name), message) for name, message in (problems or {}).items()}
    return render_page(
        request,
        "add_client.html",
        status=status,
        title="Add a client",
        form=form,
        problems=problems,
        labels=LABELS,
        languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES],
        matches=matches or [],
        hidden_match=hidden_match,
        errors=list(problems.values()),
    )


def _sentence(label: str, message: str) -> str:
    """ "Last name is required"; "Mobile number: Not a mobile number ..." for a message that is a sentence."""
    return f"{label} {message}" if message[:1].islower() else f"{label}: {message}"


@routes.get("/people/new")
async def add_client_form(request: web.Request) -> web.StreamResponse:
    signed_in(request)
    form = dict.fromkeys(FIELDS, "") | {"language": "en", "assign_to_me": "yes"}
    return _page(request, form)


def _check(form: dict[str, str], region: str) -> tuple[PersonInput | None, dict[str, str]]:
    """The directory's own checks, with each problem named by this form's field."""
    problems: dict[str, str] = {}
    raw: dict[str, Any] = {
        "first_name": form["first_name"],
        "last_name": form["last_name"],
        "preferred_name": form["preferred_name"],
        "language": form["language"],
        "phone_numbers": [form["phone"]] if form["phone"] else [],
        "email_addresses": [form["email"]] if form["email"] else [],
    }
    person = None
    try:
        person = validate_person(raw, region)
    except FieldErrors as exc:
        for name, message in exc.errors.items():
            problems.setdefault(FORM_FIELD.get(name.split("[")[0], name), message)
    if not form["phone"] and not form["email"] and "phone" not in problems:
        problems["phone"] = "give a mobile number or an email address (or both)"
    if not form["case_reference"]:
        problems["case_reference"] = "is required"
    if form["external_id"]:
        try:
            check_external_id(form["external_id"])
        except FieldErrors as exc:
            problems["external_id"] = next(iter(exc.errors.values()))
    return (person if not problems else None), problems


async def _taken(db: AsyncSession, staff: StaffContext, form: dict[str, str]) -> dict[str, str]:
    """A case reference or agency id already in use: refused (never attached to)."""
    problems = {}
    sid = staff.service_id
    if await db.scalar(select(Case.id).where(Case.service_id == sid, Case.external_ref == form["case_reference"])):
        problems["case_reference"] = "is already a case of this service: open it from Cases instead"
    if form["external_id"] and await find_by_external_id(db, sid, form["external_id"]) is not None:
        problems["external_id"] = "belongs to someone already in this service"
    return problems


@routes.post("/people/new")
async def add_client(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    posted = await request.post()
    form = {name: str(posted.get(name, "")).strip() for name in FIELDS}
    form["assign_to_me"] = "yes" if posted.get("assign_to_me") == "yes" else ""
    app = request.app
    vault = app[keys.VAULT]
    new, problems = _check(form, app[keys.SETTINGS].default_region)
    if new is None:
        return _page(request, form, problems=problems, status=400)
    async with app[keys.SESSIONS]() as db:
        problems = await _taken(db, staff, form)
        if problems:
            return _page(request, form, problems=problems, status=400)
        matches: list[Person] = []
        for kind, value in new.contacts:
            matches += [
                p for p in await find_people_by_contact(db, vault, staff.service_id, kind, value) if p not in matches
            ]
        hidden = [p for p in matches if await is_victim(db, staff.service_id, p.id)]
        if hidden and not can_see_victim_data(staff, staff.service):
            return _page(request, form, hidden_match=True, status=409)
        if matches and posted.get("add_anyway") != "yes":
            return _page(request, form, matches=matches, status=409)
        person = Person(
            service_id=staff.service_id,
            external_id=form["external_id"] or None,
            display_name=new.display_name,
            first_name=new.first_name,
            last_name=new.last_name,
            preferred_name=new.preferred_name,
            language=new.language,
            timezone=new.timezone,
            preferred_channels=[],
            consent={},
            updated_at=utcnow(),
        )
        db.add(person)
        await db.flush()
        for kind, value in new.contacts:
            await add_contact_point(db, vault, person, kind, value, label="added by staff")
        fields = {"status": "open"} | ({"assigned_to": staff.email} if form["assign_to_me"] else {})
        case, _ = await upsert_case(db, staff.service_id, form["case_reference"], fields, staff.actor)
        db.add(CaseParticipant(case_id=case.id, person_id=person.id, role=ParticipantRole.CLIENT.value))
        audit.by_staff(
            db,
            request,
            staff,
            "person.add",
            target=str(person.id),
            detail={"case_id": str(case.id), "shares_contact_with": [str(p.id) for p in matches]},
        )
        await db.commit()
    log.info("person.added", person_id=str(person.id), case_id=str(case.id), duplicate_allowed=bool(matches))
    raise see_other(person_url(person.id, "added"))
