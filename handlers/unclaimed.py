"""`unclaimed`: a sender nobody in the service knows lands in the service's unclaimed inbox.

The conversation is keyed by channel and the sender's blind index (no person, no officer), so
every message from that number or address gathers in one place until staff match it to a person.
The sender gets one automatic reply per UTC day at most, saying the message arrived and how to
reach the office (`Service.contact_text`), so a stranger cannot make the gateway text them
repeatedly. A sender that cannot receive a reply (an alphanumeric sender id such as `ACME`, a
short code, no number; see `handlers.replies.no_reply_reason`) gets none, and the decision says
why. The last handler of the default chain: it always stops.
"""

from __future__ import annotations

from handlers.base import InboundContext, Outcome
from handlers.conversations import file_message, sender_key
from handlers.replies import no_reply_reason, reply_once_a_day

AUTO_REPLY_KIND = "unclaimed"
AUTO_REPLY = (
    "Your message to {name} has been received. We could not match it to a case, so it may take longer to answer."
)


def auto_reply_text(name: str, contact_text: str | None) -> str:
    text = AUTO_REPLY.format(name=name)
    return f"{text} {contact_text}" if contact_text else text


class Unclaimed:
    name = "unclaimed"
    description = "Unknown sender: file in the service's unclaimed inbox; one auto-reply per day"

    async def handle(self, message: InboundContext) -> Outcome:
        inbound = message.inbound
        conversation = await file_message(message, key=sender_key(inbound.channel.value, inbound.sender_index))
        text = auto_reply_text(message.service.name, message.service.contact_text)
        if (why := no_reply_reason(message)) is not None:
            return Outcome.stop(f"unclaimed conversation {conversation.id}; no auto-reply: {why}")
        sent, already = await reply_once_a_day(message, AUTO_REPLY_KIND, text)
        if already:
            reply = "auto-reply already sent today"
        else:
            reply = f"auto-reply sent as notification {sent}" if sent else "auto-reply could not be built"
        return Outcome.stop(f"unclaimed conversation {conversation.id}; {reply}")
