"""`opt_out`: the carrier keywords — STOP, START, HELP and the others — in English and Spanish.

The keyword list and what counts as "one word" are in `gateway.keywords` (one table, also used to
keep answer choices clear of them). In short: a message that is exactly one word, compared without
case, accents or punctuation; "can't stop by today" is not a keyword.

* opt-out keywords (STOP, ALTO, ...) write an opt-out for the whole service on the channel the
  message came in on (see `gateway.sendtime.consent`), with the inbound message's id in the consent ledger;
* opt-in keywords (START, UNSTOP, COMENZAR, ...) clear it; YES and SI do so only when the sender is
  opted out, and are otherwise passed on as an ordinary reply (so "yes" can answer a question);
* help keywords (HELP, INFO, AYUDA, ...) are answered with the service's contact text.

A keyword ends the chain; the decision goes to the case record, and the message is filed in the
sender's conversation (the person's, assigned as `case_handler` would; an unknown sender's in the
unclaimed inbox) so the officer sees it in the thread with a plain line for what it did (the
outcome's `effect`: opted_out, already_opted_out, opted_in, not_opted_out, help_sent, help_failed;
worded by `gateway.conversations.lines`), and the open page's opt-out state changes live. It
raises the unread count but sends no staff alert and no auto-reply. No confirmation is sent for STOP
or START: on a real number Twilio itself answers those, and a second message would be one more
than the person asked for. The sandbox behaves the same way.

An email whose From is not the address its reply token was sent to (`message.sender_mismatch`,
see `handlers.identify`) is no keyword: it changes no consent and gets no HELP reply, and goes on
as an ordinary reply (the decision says why).
"""

from __future__ import annotations

from typing import Any

from gateway.keywords import Keyword, keyword_of
from gateway.sendtime.consent import record_opt_in, record_opt_out
from gateway.sendtime.policy import is_opted_out
from handlers.base import InboundContext, Outcome
from handlers.case_handler import file_for_person
from handlers.conversations import file_message, sender_key
from handlers.identify import SENDER_MISMATCH
from handlers.replies import queue_reply

HELP_FALLBACK = "{name}. Reply STOP to stop these messages, START to receive them again."


class OptOut:
    name = "opt_out"
    description = "Carrier keywords: STOP/START/HELP and the others, single word, English and Spanish"

    async def handle(self, message: InboundContext) -> Outcome:
        found = keyword_of(message.inbound.body)
        if found is None:
            return Outcome.proceed("not a keyword")
        word, kind = found
        if message.sender_mismatch:
            return Outcome.proceed(f"{word}: not applied: {SENDER_MISMATCH}; kept as an ordinary reply")
        inbound, service = message.inbound, message.service
        session, person_id = message.session, message.person.id if message.person else None
        address = (service.id, inbound.channel, inbound.sender_index)
        message.facts["keyword"] = word
        who: dict[str, Any] = {
            "service_id": service.id,
            "channel": inbound.channel,
            "address_index": inbound.sender_index,
            "source": "keyword",
            "keyword": word,
            "person_id": person_id,
            "inbound_id": inbound.id,
        }
        if kind is Keyword.OPT_IN_IF_OPTED_OUT and not await is_opted_out(session, *address, None):
            del message.facts["keyword"]
            return Outcome.proceed(f"{word}: not opted out, so not a keyword here")
        if kind is Keyword.OPT_OUT:
            changed = await record_opt_out(session, **who)
            state, effect = ("opted out", "opted_out") if changed else ("already opted out", "already_opted_out")
            decision = f"{word}: {state} of {inbound.channel} messages from this service"
        elif kind in (Keyword.OPT_IN, Keyword.OPT_IN_IF_OPTED_OUT):
            changed = await record_opt_in(session, **who)
            state, effect = ("opted back in", "opted_in") if changed else ("was not opted out", "not_opted_out")
            decision = f"{word}: {state} to {inbound.channel} messages from this service"
        else:
            text = service.contact_text or HELP_FALLBACK.format(name=service.name)
            reply = await queue_reply(message, text)
            effect = "help_sent" if reply else "help_failed"
            sent = f"contact details sent as notification {reply}" if reply else "contact details could not be sent"
            decision = f"{word}: {sent}"
        return Outcome.stop(f"{decision}; {await _file(message)}", effect)


async def _file(message: InboundContext) -> str:
    """The keyword message joins its conversation, like any other reply (no alert, no auto-reply)."""
    if message.person is not None:
        conversation = (await file_for_person(message)).conversation
    else:
        inbound = message.inbound
        conversation = await file_message(message, key=sender_key(inbound.channel.value, inbound.sender_index))
    return f"filed in conversation {conversation.id}"
