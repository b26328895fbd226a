"""People: validate what a caller sends, compare it with what is stored, write only what changed.

A write is a whole person (PUT semantics): fields left out are cleared, and contact points not
listed are retired (kept, never sent to again). The flow, shared by the API, the staff pages and
the bulk import:

1. `validate_person` (`person_fields`) checks every field and raises `FieldErrors` with all the problems at once.
2. `load_people` reads what is stored (people and their active contact points' blind indexes;
   nothing is decrypted: values are compared by blind index).
3. `plan_person` compares the two: which fields changed, which rows to insert or update, which
   points to add or retire. Nothing changed means nothing is written, not even `updated_at`.
4. `write_people` writes plans with Core statements (one per kind of write, whatever the number of
   people), and `person_entries` gives one case-record entry per case of each changed person,
   naming the fields in plain words (never contact values).

`upsert_person` does all four for one person inside the caller's transaction; the import
(`gateway.directory.importer`) does them for a whole file. `retire_person` retires one person:
history is kept, replies still resolve, sends are refused (`gateway.sendtime.policy.unsendable`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import CaseParticipant, ContactPoint, Person
from gateway.db.base import utcnow
from gateway.directory.contacts import contact_index, contact_row
from gateway.directory.fields import FieldErrors
from gateway.directory.person_fields import CONTACT_FIELDS, PersonInput, check_external_id, validate_person
from gateway.directory.visibility import NotVisible, is_hidden_victim
from gateway.domain import ContactKind, RecordKind
from gateway.recipients import DEFAULT_REGION
from gateway.record import NewEntry, append_many

SCALARS = ("first_name", "last_name", "preferred_name", "language", "timezone", "preferred_channels", "consent")
STREAM_ROWS = 5000
PEOPLE = cast(Table, Person.__table__)
POINTS = cast(Table, ContactPoint.__table__)


@dataclass(slots=True)
class PersonState:
    """What is stored of a person, as the comparison needs it."""

    id: uuid.UUID
    external_id: str | None
    values: dict[str, Any]  # the SCALARS
    retired_at: datetime | None
    merged_into: uuid.UUID | None = None  # merged into another person by staff (gateway.directory.merge)
    points: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)  # active (kind, index) -> id


@dataclass(slots=True)
class PersonPlan:
    """What writing one person takes: `changed` names the fields; empty means write nothing."""

    person_id: uuid.UUID
    external_id: str
    display_name: str
    created: bool
    changed: list[str]
    values: dict[str, Any]  # the people row's columns to insert or set
    add_points: list[dict[str, Any]]
    retire_points: list[uuid.UUID]


def _stored_people(service_id: uuid.UUID) -> Select[Any]:
    """The service's people with an external id: what `load_people` and `load_digests` compare with."""
    columns = (PEOPLE.c.id, PEOPLE.c.external_id, PEOPLE.c.retired_at, PEOPLE.c.merged_into_id)
    return select(*columns, *(PEOPLE.c[name] for name in SCALARS)).where(
        PEOPLE.c.service_id == service_id, PEOPLE.c.external_id.is_not(None)
    )


async def load_people(
    session: AsyncSession, service_id: uuid.UUID, external_ids: Sequence[str] | None = None
) -> dict[str, PersonState]:
    """Stored people of the service with an external id (all of them, or those named), by external id."""
    people = _stored_people(service_id)
    points = select(POINTS.c.id, POINTS.c.person_id, POINTS.c.kind, POINTS.c.value_index).where(
        POINTS.c.service_id == service_id, POINTS.c.retired_at.is_(None)
    )
    if external_ids is not None:
        people = people.where(PEOPLE.c.external_id.in_(list(external_ids)))
        # from the named people to their points: by the unique (service, external id) and the person_id
        # index, whatever the planner knows (before the first ANALYZE it drove from all the service's
        # points, one people scan each: a registration took 140 ms once a VSU had 1,000)
        points = (
            select(POINTS.c.id, POINTS.c.person_id, POINTS.c.kind, POINTS.c.value_index)
            .select_from(PEOPLE.join(POINTS, POINTS.c.person_id == PEOPLE.c.id))
            .where(
                PEOPLE.c.service_id == service_id,
                PEOPLE.c.external_id.in_(list(external_ids)),
                POINTS.c.retired_at.is_(None),
            )
        )
    states: dict[str, PersonState] = {}
    by_id: dict[uuid.UUID, PersonState] = {}
    # Streamed in partitions: a 100,000-person service is never held as one buffered result.
    async for row in await session.stream(people.execution_options(yield_per=STREAM_ROWS)):
        values = {name: getattr(row, name) for name in SCALARS}
        state = PersonState(row.id, row.external_id, values, row.retired_at, row.merged_into_id)
        states[row.external_id] = by_id[row.id] = state
    async for point_id, person_id, kind, index in await session.stream(points.execution_options(yield_per=STREAM_ROWS)):
        if person_id in by_id:
            by_id[person_id].points[(kind, index)] = point_id
    return states


MERGED = "was merged into another person by staff (a duplicate): write to the person it was merged into instead"


def merged_errors(state: PersonState | None) -> dict[str, str]:
    """A merged duplicate is never written again by a sync: that would bring it back beside its survivor,
    with the same number, and replies from it would match nobody."""
    return {"external_id": MERGED} if state is not None and state.merged_into is not None else {}


@dataclass(frozen=True, slots=True)
class PersonDigest:
    """What a bulk import keeps of a stored person instead of its `PersonState` (~3 KB each): enough to
    tell an unchanged row at once. `digest` (`person_digest`) is None when it cannot be computed."""

    id: uuid.UUID
    retired: bool
    merged: bool
    digest: bytes | None


def _point_hash(kind: str, index: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{kind}:{index}".encode(), digest_size=16).digest())


def person_digest(values: Mapping[str, Any], points: int) -> bytes | None:
    """A digest of a person's SCALARS (as `_differs` compares them: lists as lists, empty as None) and of
    its active points (`points`: the XOR of their `_point_hash`es, so order does not matter). Equal
    digests mean `plan_person` finds nothing changed; None (a value JSON cannot hold) means compare whole."""
    canonical = [_canonical(values.get(name)) for name in SCALARS]
    try:
        text = json.dumps([canonical, points], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _canonical(value: Any) -> Any:
    if value is None or value == {} or value == []:
        return None
    return list(value) if isinstance(value, list | tuple) else value


def new_digest(vault: Vault, new: PersonInput) -> bytes | None:
    """`person_digest` of what `new` would store."""
    points = 0
    for kind, index in _wanted(vault, new):
        points ^= _point_hash(kind, index)
    return person_digest(_scalars(new), points)


async def load_digests(session: AsyncSession, service_id: uuid.UUID) -> dict[str, PersonDigest]:
    """Every stored person of the service with an external id, as a `PersonDigest`, by external id:
    streamed, and about 300 bytes a person where `load_people` holds ~3 KB."""
    points: dict[uuid.UUID, int] = {}
    query = select(POINTS.c.person_id, POINTS.c.kind, POINTS.c.value_index).where(
        POINTS.c.service_id == service_id, POINTS.c.retired_at.is_(None)
    )
    async for person_id, kind, index in await session.stream(query.execution_options(yield_per=STREAM_ROWS)):
        points[person_id] = points.get(person_id, 0) ^ _point_hash(kind, index)
    found: dict[str, PersonDigest] = {}
    async for row in await session.stream(_stored_people(service_id).execution_options(yield_per=STREAM_ROWS)):
        digest = person_digest({name: getattr(row, name) for name in SCALARS}, points.pop(row.id, 0))
        retired, merged = row.retired_at is not None, row.merged_into_id is not None
        found[row.external_id] = PersonDigest(row.id, retired, merged, digest)
    return found


def _scalars(new: PersonInput) -> dict[str, Any]:
    return {
        "first_name": new.first_name,
        "last_name": new.last_name,
        "preferred_name": new.preferred_name,
        "language": new.language,
        "timezone": new.timezone,
        "preferred_channels": list(new.preferred_channels),
        "consent": new.consent,
    }


def _wanted(vault: Vault, new: PersonInput) -> dict[tuple[str, str], tuple[ContactKind, str]]:
    """The contact points `new` lists, by (kind, blind index)."""
    return {(kind.value, contact_index(vault, kind, value)): (kind, value) for kind, value in new.contacts}


def plan_person(
    vault: Vault, service_id: uuid.UUID, external_id: str, state: PersonState | None, new: PersonInput
) -> PersonPlan:
    """Compare `new` with what is stored (`state`, None for a new person): what to write, and why."""
    values = _scalars(new)
    wanted = _wanted(vault, new)
    person_id = state.id if state else uuid.uuid4()
    stored = state.points if state else {}
    changed = [name for name in SCALARS if state is None or _differs(state.values.get(name), values[name])]
    if state is not None:
        kinds = sorted({kind for kind, _ in set(wanted) ^ set(stored)})
        changed += [CONTACT_FIELDS[ContactKind(kind)] for kind in kinds]
    if state is not None and state.retired_at is not None:
        changed.append("reinstated")
    add = [
        contact_row(vault, service_id, person_id, kind, value)
        for key, (kind, value) in wanted.items()
        if key not in stored
    ]
    retire = [point_id for key, point_id in stored.items() if key not in wanted]
    if state is None:
        changed = ["created"]
    now = utcnow()
    values.update(display_name=new.display_name, updated_at=now, retired_at=None)
    if state is None:
        values.update(id=person_id, service_id=service_id, external_id=external_id, created_at=now)
    return PersonPlan(person_id, external_id, new.display_name, state is None, changed, values, add, retire)


def _differs(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, list | tuple) and isinstance(wanted, list | tuple):
        return list(stored) != list(wanted)
    return bool(stored != wanted) and not (stored in (None, {}, []) and wanted in (None, {}, []))


async def find_by_external_id(session: AsyncSession, service_id: uuid.UUID, external_id: str) -> Person | None:
    found: Person | None = await session.scalar(
        select(Person).where(Person.service_id == service_id, Person.external_id == external_id)
    )
    return found


CHUNK = 1000
FIELD_WORDS = {
    "first_name": "first name",
    "last_name": "last name",
    "preferred_name": "preferred name",
    "timezone": "time zone",
    "preferred_channels": "preferred channels",
    "phone_numbers": "phone numbers",
    "email_addresses": "email addresses",
    "postal_address": "postal address",
}


def _chunks(rows: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


_UPDATE_PERSON = (
    update(PEOPLE)
    .where(PEOPLE.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in (*SCALARS, "display_name", "updated_at", "retired_at")})
)
_RETIRE_POINT = (
    update(POINTS)
    .where(POINTS.c.id == bindparam("b_id"), POINTS.c.retired_at.is_(None))
    .values(retired_at=bindparam("b_at"), retired_reason="removed")
)


async def write_people(session: AsyncSession, plans: Sequence[PersonPlan]) -> None:
    """Write the plans that change something: Core inserts and updates in chunks, in the caller's transaction."""
    plans = [p for p in plans if p.changed]
    created = [p.values for p in plans if p.created]
    updated = [{f"b_{k}": v for k, v in p.values.items()} | {"b_id": p.person_id} for p in plans if not p.created]
    points = [row for p in plans for row in p.add_points]
    now = utcnow()
    retired = [{"b_id": point_id, "b_at": now} for p in plans for point_id in p.retire_points]
    for chunk in _chunks(created):
        await session.execute(insert(PEOPLE), list(chunk))
    for chunk in _chunks(updated):
        await session.execute(_UPDATE_PERSON, list(chunk))
    for chunk in _chunks(retired):
        await session.execute(_RETIRE_POINT, list(chunk))
    for chunk in _chunks(points):
        await session.execute(insert(POINTS), list(chunk))


async def cases_of(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The cases each person takes part in (any role), in chunks of ids."""
    out: dict[uuid.UUID, list[uuid.UUID]] = {}
    for chunk in _chunks(list(person_ids)):
        rows = await session.execute(
            select(CaseParticipant.person_id, CaseParticipant.case_id)
            .where(CaseParticipant.person_id.in_(list(chunk)))
            .distinct()
        )
        for person_id, case_id in rows:
            out.setdefault(person_id, []).append(case_id)
    return out


def describe(changed: Sequence[str]) -> str:
    """Field names in plain words, for a record line: "first name, phone numbers"."""
    return ", ".join(FIELD_WORDS.get(name, name) for name in changed)


async def person_entries(session: AsyncSession, plans: Sequence[PersonPlan], actor: str) -> list[NewEntry]:
    """One record entry per case of each changed (not new) person, naming the fields that changed."""
    changed = [p for p in plans if p.changed and not p.created]
    cases = await cases_of(session, [p.person_id for p in changed])
    return [
        NewEntry(
            case_id,
            RecordKind.DETAILS,
            actor,
            f"Details of {p.display_name} changed: {describe(p.changed)}",
            {"person_id": str(p.person_id), "external_id": p.external_id, "fields": p.changed},
        )
        for p in changed
        for case_id in sorted(cases.get(p.person_id, []))
    ]


async def upsert_person(
    session: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    external_id: str,
    fields: Mapping[str, Any],
    actor: str,
    *,
    region: str = DEFAULT_REGION,
) -> tuple[Person, list[str]]:
    """Create or update the person the agency knows as `external_id`, in the caller's transaction.

    Returns the person and the fields that changed (`["created"]` for a new person, `[]` when
    nothing changed, in which case nothing was written). Raises FieldErrors (every bad field) before
    writing anything, and NotVisible for a person this service may not touch (a victim, outside a
    victim-services service). The caller commits; two racing creates of one id: one gets IntegrityError.
    """
    errors: dict[str, str] = {}
    try:
        check_external_id(external_id)
    except FieldErrors as exc:
        errors.update(exc.errors)
    try:
        new = validate_person(fields, region)
    except FieldErrors as exc:
        errors.update(exc.errors)
    if errors:
        raise FieldErrors(errors)
    state = (await load_people(session, service_id, [external_id])).get(external_id)
    if state is not None and await is_hidden_victim(session, service_id, state.id):
        raise NotVisible(external_id)
    if merged := merged_errors(state):
        raise FieldErrors(merged)
    plan = plan_person(vault, service_id, external_id, state, new)
    if plan.changed:
        await write_people(session, [plan])
        await append_many(session, await person_entries(session, [plan], actor))
    person = await session.get(Person, plan.person_id, populate_existing=True)
    assert person is not None
    return person, plan.changed


async def retire_person(
    session: AsyncSession, service_id: uuid.UUID, external_id: str, actor: str
) -> tuple[Person, bool] | None:
    """Retire the person: kept with their history (replies from them still resolve), but every send
    to them is refused. Returns (person, False) when already retired, None when there is no such
    person visible to this service."""
    person = await find_by_external_id(session, service_id, external_id)
    if person is None or await is_hidden_victim(session, service_id, person.id):
        return None
    if person.retired_at is not None:
        return person, False
    now = utcnow()
    await session.execute(update(PEOPLE).where(PEOPLE.c.id == person.id).values(retired_at=now, updated_at=now))
    cases = await cases_of(session, [person.id])
    await append_many(
        session,
        [
            NewEntry(
                case_id,
                RecordKind.DETAILS,
                actor,
                f"{person.display_name} retired: kept with their history; nothing more is sent to them",
                {"person_id": str(person.id), "external_id": external_id, "fields": ["retired"]},
            )
            for case_id in sorted(cases.get(person.id, []))
        ],
    )
    refreshed = await session.get(Person, person.id, populate_existing=True)
    assert refreshed is not None
    return refreshed, True
