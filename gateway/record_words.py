"""The case record in plain words: names instead of ids, sentences instead of handler decisions.

The stored record keeps its ids and its hash chain (`gateway.record`); this module only changes
what a person reads, on the case page and in the CSV and PDF exports. `RecordReader.load` looks up,
in a few queries, the names an entry's ids stand for (staff, people, the person each message was
from or to) and, when the viewer may read them, the messages' text; `RecordReader.line` turns one
entry into a `RecordLine`:

    Jordan replied by text — filed for Dana Demo
    Olive Officer sent a text to Jordan Rivera
    Text to Jordan Rivera delivered

Anything not recognised is shown as stored, with any id it contains replaced by a name or removed,
so a new kind of entry reads acceptably before it is given its own words.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import InboundMessage, Notification, Person, RecordEntry, StaffUser
from gateway.domain import RecordKind

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_STAFF = re.compile(rf"\bstaff[: ]({_UUID})")
_PERSON = re.compile(rf"\bperson ({_UUID})")
_OTHER_ID = re.compile(rf"\s*\b(?:conversation|notification|question|case)?\s*{_UUID}")
CHANNEL_NOUN = {"sms": "text", "email": "email", "letter": "letter"}
SYSTEM_ACTORS = {
    "gateway:inbound": "Gateway (incoming message)",
    "gateway:delivery": "Gateway (sending)",
    "gateway:receipts": "Carrier receipt",
    "gateway:sweeper": "Gateway (scheduled check)",
    "gateway:letters": "Gateway (letters)",
    "gateway:returned-mail": "Returned mail",
    "gateway:alerts": "Gateway (alerts)",
    "demo": "Demo data",
}
STATUS_WORDS = {
    "sending": "handed to the carrier",
    "sent": "sent",
    "delivered": "delivered",
    "permanent-failure": "failed",
    "temporary-failure": "failed (the phone or inbox did not accept it)",
    "technical-failure": "failed (a problem on our side)",
}


@dataclass(frozen=True, slots=True)
class RecordLine:
    """One entry as a person reads it: who, what, about whom, and the message where it may be shown."""

    by: str
    what: str
    person: str
    message: str | None


@dataclass
class RecordReader:
    """Names and texts for a set of entries, loaded once (`load`), then read line by line."""

    staff: dict[uuid.UUID, str] = field(default_factory=dict)
    people: dict[uuid.UUID, str] = field(default_factory=dict)
    first_names: dict[uuid.UUID, str] = field(default_factory=dict)
    message_person: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)
    texts: dict[uuid.UUID, str] = field(default_factory=dict)
    client: str = ""

    @classmethod
    async def load(
        cls,
        db: AsyncSession,
        vault: Vault,
        service_id: uuid.UUID,
        entries: Sequence[RecordEntry],
        *,
        client_id: uuid.UUID | None,
        with_text: bool,
    ) -> RecordReader:
        """`with_text`: include the messages' words (only for entries the viewer may see at all)."""
        reader = cls()
        rows = await db.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.service_id == service_id))
        reader.staff = {row.id: row.name for row in rows}
        inbound_ids = [e.inbound_id for e in entries if e.inbound_id]
        notification_ids = [e.notification_id for e in entries if e.notification_id]
        for model, ids in ((InboundMessage, inbound_ids), (Notification, notification_ids)):
            for start in range(0, len(ids), 500):
                found = await db.execute(
                    select(model.id, model.person_id, model.body_enc).where(
                        model.service_id == service_id, model.id.in_(ids[start : start + 500])
                    )
                )
                for mid, person_id, body_enc in found:
                    reader.message_person[mid] = person_id
                    if with_text:
                        reader.texts[mid] = vault.open(body_enc)
        person_ids = {p for p in reader.message_person.values() if p} | ({client_id} if client_id else set())
        for entry in entries:
            for match in _PERSON.finditer(entry.summary):
                person_ids.add(uuid.UUID(match.group(1)))
            if isinstance(named := (entry.data or {}).get("person_id"), str):
                with contextlib.suppress(ValueError):
                    person_ids.add(uuid.UUID(named))
        if person_ids:
            found_people = await db.execute(
                select(Person.id, Person.display_name, Person.preferred_name, Person.first_name).where(
                    Person.service_id == service_id, Person.id.in_(sorted(person_ids))
                )
            )
            for pid, display, preferred, first in found_people:
                reader.people[pid] = display
                reader.first_names[pid] = preferred or first or display.split(" ")[0]
        reader.client = reader.people.get(client_id, "") if client_id else ""
        return reader

    def actor(self, actor: str) -> str:
        if actor.startswith("staff:"):
            try:
                return self.staff.get(uuid.UUID(actor[6:]), "A former member of staff")
            except ValueError:
                return "A member of staff"
        if actor.startswith("api:") or actor.startswith("key:"):
            return "Agency system (API)"
        return SYSTEM_ACTORS.get(actor, _OTHER_ID.sub("", actor))

    def words(self, text: str) -> str:
        """`text` with staff and person ids replaced by names and any other id taken out."""
        text = _STAFF.sub(lambda m: self.staff.get(uuid.UUID(m.group(1)), "a former member of staff"), text)
        text = _PERSON.sub(lambda m: self.people.get(uuid.UUID(m.group(1)), "someone"), text)
        return _OTHER_ID.sub("", text).replace(" ;", ";").strip()

    def _person_of(self, entry: RecordEntry) -> uuid.UUID | None:
        key = entry.inbound_id or entry.notification_id
        return self.message_person.get(key) if key else None

    def line(self, entry: RecordEntry) -> RecordLine:
        data = entry.data or {}
        pid = self._person_of(entry)
        person = self.people.get(pid, "") if pid else ""
        first = self.first_names.get(pid, "") if pid else ""
        key = entry.inbound_id or entry.notification_id
        message = self.texts.get(key) if key else None
        by = self.actor(entry.actor)
        noun = CHANNEL_NOUN.get(str(data.get("channel", "")), "message")
        kind = entry.kind
        if kind == RecordKind.INBOUND and entry.inbound_id:
            who = first or person or "Someone"
            verb = "replied by text" if noun == "text" else f"sent an {noun}" if noun == "email" else "wrote"
            return RecordLine(by, f"{who} {verb} — {self._routing(data)}", person, message)
        if kind == RecordKind.OUTBOUND and entry.actor.startswith("staff:"):
            to = person or "the person"
            when = "scheduled a" if "scheduled" in entry.summary else "sent a"
            kind_noun = "text" if " sms " in f" {entry.summary} " else "message"
            if " email " in f" {entry.summary} ":
                kind_noun = "email"
            return RecordLine(by, f"{by} {when} {kind_noun} to {to}", person, message)
        if kind in (RecordKind.OUTBOUND, RecordKind.STATUS) and entry.notification_id:
            channel = entry.summary.split(" ", 1)[0]
            status = str(data.get("status", ""))
            what = f"{CHANNEL_NOUN.get(channel, 'Message').capitalize()} to {person or 'the person'}"
            words = STATUS_WORDS.get(status, status.replace("-", " ") or "updated")
            code = f" (carrier code {data['code']})" if data.get("code") else ""
            return RecordLine(by, f"{what} {words}{code}", person, message)
        return RecordLine(by, self.words(entry.summary), person, message)

    def _routing(self, data: dict[str, object]) -> str:
        decisions = data.get("decisions")
        last = decisions[-1] if isinstance(decisions, list) and decisions else {}
        handler = last.get("handler") if isinstance(last, dict) else None
        decision = str(last.get("decision", "")) if isinstance(last, dict) else ""
        if handler == "case_handler":
            if match := _STAFF.search(decision):
                text = f"filed for {self.staff.get(uuid.UUID(match.group(1)), 'a former member of staff')}"
                if "out of office" in decision:
                    text += "; out-of-office reply sent" if "replied as" in decision else "; they are out of office"
                return text
            if "unclaimed" in decision:
                return "waiting in the unclaimed inbox (" + decision.split("unclaimed:", 1)[-1].strip() + ")"
            return self.words(decision)
        if handler == "unclaimed":
            return "waiting in the unclaimed inbox"
        if handler == "opt_out":
            return self.words(decision)
        return self.words(decision) if decision else "received"
