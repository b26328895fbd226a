"""What a broadcast would do, before it does it, and the screening its send uses too.

`screen` leaves out, with the reason, recipients who opted out (one query a chunk), are retired (two
queries a chunk, `gateway.sendtime.policy`), or whose message cannot be made (a missing value, too
long). `preview` adds the counts a sender checks: by channel, SMS fragments in total, the time it
takes at the senders' rates (each channel's sender works in parallel), how many texts quiet hours
hold to the window's opening (on each recipient's clock), and the first messages as rendered.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.broadcasts.audience import LeftOut, Recipient
from gateway.broadcasts.content import Content, NotRendered
from gateway.crypto import Vault
from gateway.db import Service
from gateway.domain import Channel
from gateway.errors import ApiError
from gateway.outbound import recipient_index, render_for
from gateway.sendtime import policy
from gateway.sendtime.quiet_hours import BadWindow, next_opening, parse_window, recipient_zone
from gateway.settings import Settings
from gateway.templating import Rendered, Renderer

CHUNK = 1000
SAMPLES = 3


@dataclass
class Screened:
    """The recipients to write (each with its rendered fragments), and who is left out and why."""

    kept: list[tuple[Recipient, Rendered]] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    samples: list[tuple[str, Channel, str | None, str]] = field(default_factory=list)  # label, channel, subject, body


@dataclass
class Preview:
    screened: Screened
    by_channel: dict[str, int]
    fragments: int
    seconds: float
    deferred: int
    first_opening: datetime | None
    reasons: dict[str, int]
    needs_approval: bool
    threshold: int

    @property
    def total(self) -> int:
        return len(self.screened.kept)


def sender_of(service: Service, channel: Channel) -> str | None:
    """The sender a broadcast on `channel` goes from (as the API's sends do)."""
    return service.sms_sender if channel is Channel.SMS else service.email_from


async def screen_parts(
    db: AsyncSession,
    vault: Vault,
    renderer: Renderer,
    service: Service,
    content: Content,
    recipients: Sequence[Recipient],
    *,
    check_policy: bool = True,
) -> AsyncIterator[Screened]:
    """Render each recipient's message and check opt-outs and retirement (see the module docstring), a
    part of CHUNK recipients at a time: a sender writes each part while the next is screened."""
    for at in range(0, len(recipients), CHUNK):
        out = Screened()
        chunk = recipients[at : at + CHUNK]
        addressees = [
            policy.Addressee(
                service.id,
                r.channel,
                recipient_index(vault, r.channel, r.address),
                sender_of(service, r.channel),
                r.person_id,
            )
            for r in chunk
        ]
        opted = await policy.opted_out(db, addressees) if check_policy else set()
        retired = await policy.unsendable(db, addressees) if check_policy else set()
        for r, addressee in zip(chunk, addressees, strict=True):
            if addressee in opted:
                out.left_out.append(LeftOut(r.label, "opted out (replied STOP)"))
                continue
            if addressee in retired:
                out.left_out.append(LeftOut(r.label, "retired number, address or person"))
                continue
            try:
                template = content.templates[r.channel]
                rendered = render_for(renderer, template, content.personalisation(r.channel, r.values))
            except (NotRendered, ApiError) as exc:
                reason = exc.message if isinstance(exc, ApiError) else str(exc)
                out.left_out.append(LeftOut(r.label, f"message cannot be made: {reason}"))
                continue
            out.kept.append((r, rendered))
            if len(out.samples) < SAMPLES:
                out.samples.append((r.label, r.channel, rendered.subject, rendered.body))
        yield out


async def screen(
    db: AsyncSession,
    vault: Vault,
    renderer: Renderer,
    service: Service,
    content: Content,
    recipients: Sequence[Recipient],
    *,
    check_policy: bool = True,
) -> Screened:
    """The whole audience screened (`screen_parts` taken together): who is kept, who is left out and why."""
    out = Screened()
    async for part in screen_parts(db, vault, renderer, service, content, recipients, check_policy=check_policy):
        out.kept += part.kept
        out.left_out += part.left_out
        out.samples += part.samples[: SAMPLES - len(out.samples)]
    return out


async def parts_of(screened: Screened) -> AsyncIterator[Screened]:
    """An audience screened whole, as the parts a writer takes (the API screens a job whole to refuse it whole)."""
    for at in range(0, max(len(screened.kept), 1), CHUNK):
        yield Screened(screened.kept[at : at + CHUNK], screened.left_out if at == 0 else [])


def rate_of(settings: Settings, service: Service, channel: Channel) -> float:
    return policy.sender_rate(settings, channel, service.sms_per_second) or 1.0


async def preview(
    db: AsyncSession,
    settings: Settings,
    vault: Vault,
    renderer: Renderer,
    service: Service,
    content: Content,
    recipients: Sequence[Recipient],
    left_out: Sequence[LeftOut],
    now: datetime,
) -> Preview:
    screened = await screen(db, vault, renderer, service, content, recipients)
    screened.left_out = [*left_out, *screened.left_out]
    by_channel = Counter(r.channel.value for r, _ in screened.kept)
    seconds = max(
        (math.ceil(count / rate_of(settings, service, Channel(c))) for c, count in by_channel.items()), default=0
    )
    try:
        window = parse_window(service.quiet_hours)
    except BadWindow:
        window = parse_window(None)
    deferred, first = 0, None
    for r, _ in screened.kept:
        if r.channel in policy.QUIET_CHANNELS:
            opening = next_opening(now, recipient_zone(r.zone, r.address, service.timezone), window)
            if opening > now:
                deferred += 1
                first = opening if first is None else min(first, opening)
    reasons = Counter(o.reason for o in screened.left_out)
    threshold = service.broadcast_approval_threshold
    return Preview(
        screened,
        dict(sorted(by_channel.items())),
        sum(rendered.fragments for r, rendered in screened.kept if r.channel is Channel.SMS),
        float(seconds),
        deferred,
        first,
        dict(reasons.most_common()),
        len(screened.kept) > threshold,
        threshold,
    )
