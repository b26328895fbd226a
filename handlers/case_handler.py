"""`case_handler`: a message from a known person joins their conversation with the case's officer.

The conversation (one per person in the service) is marked unread, assigned to the officer of the
case the message is filed under, and pushed live to staff browsers. Then, for that officer:

* an email alert, when the officer asked for one (`alert_new_messages`, `gateway.alerts`) or
  `GATEWAY_INBOUND_STAFF_ALERTS` is on, and the conversation had nothing unread before (one alert
  per burst of messages, not one per message). It names the service and links to the
  conversation; it never contains the message, which may hold victim or client details that do
  not belong in an officer's mailbox;
* when the officer is away (`away_from`..`away_until` around the message's arrival,
  `gateway.alerts.absence`): the conversation goes to their covering officer's inbox (who gets the
  alert instead, if they asked for alerts), and the client gets the officer's `out_of_office` text
  once per absence. An `out_of_office` text with no dates keeps its old meaning: an auto-reply at
  most once a day per sender (see `handlers.replies.reply_once_a_day`).

A person with no open case, or whose case has no officer, still gets their conversation: it is
filed unclaimed, for a supervisor to pick up. So is a victim's message when the case's officer may
not see victim data (`gateway.victim_access`): a victim's texts are never assigned to, or alerted
to, staff who must not know of them. Ends the chain for every identified person.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.alerts.absence import covering_officer, is_away
from gateway.db import Conversation, StaffUser
from gateway.domain import Channel
from gateway.errors import ApiError
from gateway.outbound import normalise_recipient
from gateway.victim_access import can_see_victim_data
from handlers.base import InboundContext, Outcome
from handlers.conversations import file_message, person_key
from handlers.replies import no_reply_reason, queue_notification, reply_once_a_day

ALERT_TEMPLATE = "staff_new_message_alert"
OUT_OF_OFFICE = "out_of_office"
CHANNEL_WORDS = {Channel.SMS: "text message", Channel.EMAIL: "email", Channel.LETTER: "letter"}


class CaseHandler:
    name = "case_handler"
    description = "File the message in the person's conversation with their case's officer; alert, out-of-office"

    async def handle(self, message: InboundContext) -> Outcome:
        person, case = message.person, message.case
        if person is None:
            return Outcome.proceed("no person identified: not a case conversation")
        filed = await file_for_person(message)
        conversation, staff, holder = filed.conversation, filed.staff, filed.holder
        parts = [f"filed in conversation {conversation.id}"]
        if filed.hidden:
            return Outcome.stop(f"{parts[0]}; not assigned to the case's officer, who may not see victim data")
        if staff is None or holder is None:
            why = "no open case" if case is None else "the case has no active officer"
            return Outcome.stop(f"{parts[0]}; unclaimed: {why}")
        parts.append(f"assigned to staff {holder.id}, unread {conversation.unread_count}")
        if holder is not staff:
            parts.append(f"covering for staff {staff.id}, who is out of office")
        wants_alert = message.settings.inbound_staff_alerts or holder.alert_new_messages
        if wants_alert and conversation.unread_count == 1:
            parts.append(await _alert(message, holder, conversation.id))
        at = message.inbound.received_at
        away = is_away(staff, at)
        if staff.out_of_office and (away or staff.away_from is None):
            parts.append(await _out_of_office(message, staff, absence=away))
        return Outcome.stop("; ".join(parts))


@dataclass(frozen=True)
class Filed:
    """Where an identified person's message was filed: the conversation, the case's officer (None: none,
    or hidden), who holds it now (the officer, or whoever covers their absence), and whether the
    officer was passed over because they may not see a victim's messages."""

    conversation: Conversation
    staff: StaffUser | None
    holder: StaffUser | None
    hidden: bool


async def file_for_person(message: InboundContext) -> Filed:
    """File an identified person's message in their conversation, assigned to their case's officer (or
    the officer covering their absence) unless that officer may not see a victim's messages.
    Also used by `opt_out`, so a keyword reply shows in the thread where the officer reads."""
    person, case = message.person, message.case
    assert person is not None
    staff = message.officers.get(case.id) if case is not None else None  # found by identify
    hidden = staff is not None and message.victim and not can_see_victim_data(staff, message.service)
    if hidden:
        staff = None
    cover = None
    if staff is not None:
        at = message.inbound.received_at
        cover = await covering_officer(message.session, staff, message.service, at, victim=message.victim)
    holder = cover or staff
    conversation = await file_message(
        message,
        key=person_key(person.id),
        person_id=person.id,
        assigned_staff_id=holder.id if holder is not None else None,
        reassign=case is not None and not hidden,  # whoever (allowed) holds it keeps it
        case_id=case.id if case is not None else None,
    )
    return Filed(conversation, staff, holder, hidden)


async def _out_of_office(message: InboundContext, staff: StaffUser, *, absence: bool) -> str:
    """The officer's auto-reply: once per absence when they set dates, else at most once a day."""
    assert staff.out_of_office is not None
    if (no_reply := no_reply_reason(message)) is not None:
        return f"out of office: no reply: {no_reply}"
    slot = staff.away_from.date() if absence and staff.away_from is not None else None
    sent, already = await reply_once_a_day(message, OUT_OF_OFFICE, staff.out_of_office, slot=slot)
    if already:
        return (
            "out of office: already replied during this absence" if absence else "out of office: already replied today"
        )
    return f"out of office: replied as notification {sent}" if sent else "out of office: no reply"


async def _alert(message: InboundContext, staff: StaffUser, conversation_id: object) -> str:
    try:
        address = normalise_recipient(Channel.EMAIL, staff.email, message.settings.default_region)
    except ApiError:
        return f"alert not sent: staff {staff.id} has no usable email address"
    sent = await queue_notification(
        message,
        channel=Channel.EMAIL,
        recipient=address,
        slug=ALERT_TEMPLATE,
        personalisation={
            "staff_name": staff.name,
            "service_name": message.service.name,
            "channel": CHANNEL_WORDS[message.inbound.channel],
            "conversation_url": f"{message.settings.base_url}/conversations/{conversation_id}",
        },
        sender=message.service.email_from,
    )
    return f"staff alerted by notification {sent}" if sent else "alert could not be built"
