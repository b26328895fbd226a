"""The handler interface: what a handler is given, what it answers, and how it is recorded.

A handler is a small object with a `name`, a one-line `description` and one async method,
`handle(message) -> Outcome`. It looks at the message and what earlier handlers found, may act
(write through `message.session`, queue a reply, schedule a live push with `after_commit`), and
returns `Outcome.proceed(...)` to pass the message on or `Outcome.stop(...)` when it is dealt
with. Stopping is a return value, never an exception; an exception means the handler failed, and
the pipeline keeps the message as `failed` at that stage for replay.

The whole chain runs in one database transaction (`message.session`): either every handler's
writes commit together with the message's new state and its case record entry, or none do. So a
failed or replayed message never leaves half its effects behind. Work that must not happen before
the commit (enqueueing a delivery, a live push) goes through `message.after_commit(...)`.

`decision` is one line for the case record and `InboundMessage.decisions`: what was decided and
why, by ids. Never put the message body or a phone number or email address in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import Case, Conversation, Notification, Person, Service, StaffUser
from gateway.domain import Channel
from gateway.inbound.store import Enqueuer
from gateway.live import LiveHub
from gateway.settings import Settings
from gateway.templating import Renderer

AfterCommit = Callable[[], Awaitable[None]]


class Action(StrEnum):
    """What the pipeline does after a handler: run the next one, or end the chain here."""

    CONTINUE = "continue"
    STOP = "stop"


@dataclass(frozen=True)
class Outcome:
    """A handler's answer: continue or stop, and one line saying what it decided."""

    action: Action
    decision: str
    # a short machine-readable word for what was done (e.g. "opted_out"), kept beside the decision
    # so pages can say it in plain words without parsing the decision line
    effect: str | None = None

    @classmethod
    def proceed(cls, decision: str, effect: str | None = None) -> Outcome:
        return cls(Action.CONTINUE, decision, effect)

    @classmethod
    def stop(cls, decision: str, effect: str | None = None) -> Outcome:
        return cls(Action.STOP, decision, effect)


@dataclass(frozen=True)
class Received:
    """The inbound message as handlers see it: opened (decrypted), read-only."""

    id: uuid.UUID
    service_id: uuid.UUID
    channel: Channel
    sender: str  # E.164 or email address: never log it or put it in a decision
    sender_index: str  # blind index of the sender, for lookups
    recipient: str  # our number, or the reply address written to
    body: str  # never log it or put it in a decision
    media: tuple[Mapping[str, Any], ...]
    received_at: datetime
    reply_to_notification_id: uuid.UUID | None


@dataclass
class InboundContext:
    """Everything a handler may use, and what earlier handlers found out.

    `session` is the chain's single transaction; `settings`, `vault`, `renderer`, `queue` and
    `live` are the process's shared resources. `person`, `cases`, `officers`, `notification`,
    `conversation` and `ambiguous` are filled in by handlers as the message moves along (see
    identify.py).
    """

    inbound: Received
    service: Service
    session: AsyncSession
    settings: Settings
    vault: Vault
    renderer: Renderer
    queue: Enqueuer | None
    live: LiveHub | None
    person: Person | None = None
    cases: list[Case] = field(default_factory=list)
    officers: dict[uuid.UUID, StaffUser] = field(default_factory=dict)  # case id -> its active officer
    notification: Notification | None = None  # the outbound message this replies to, if known
    conversation: Conversation | None = None
    ambiguous: bool = False  # the sender's address belongs to more than one person
    victim: bool = False  # the person is a victim participant of a case (gateway.victim_access)
    # An email whose From is not the address its reply token was sent to (see identify.py): kept as
    # an ordinary reply, but it changes no consent, answers no question and gets no auto-reply.
    sender_mismatch: bool = False
    facts: dict[str, Any] = field(default_factory=dict)  # small ids/flags for the case record
    _after_commit: list[AfterCommit] = field(default_factory=list)

    @property
    def case(self) -> Case | None:
        """The case this message is filed under first (others in `cases` get the record too)."""
        return self.cases[0] if self.cases else None

    def after_commit(self, action: AfterCommit) -> None:
        """Run `action` once the chain's transaction has committed (never if it rolls back)."""
        self._after_commit.append(action)

    @property
    def pending_actions(self) -> list[AfterCommit]:
        return list(self._after_commit)


class Handler(Protocol):
    """One step of the chain: a name, a description, and one method."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    async def handle(self, message: InboundContext) -> Outcome:
        """Look at the message; act and stop, or pass it on. Raise only when something broke."""
        ...
