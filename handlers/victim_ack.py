"""`victim_ack`: a victim's reply that answered a victim notice's question acknowledges that notice.

`answers` (just before) resolved the question and left its id in `facts["answered_question"]`; when
that question is a victim notice's (`gateway.victims.acknowledge.QUESTION_KIND`), the notice is
acknowledged in the chain's transaction and its escalation stops. The message goes on to the
victim's conversation in the victim-services unit (the only service that texted them: its own number).
"""

from __future__ import annotations

import uuid

from gateway.db.base import utcnow
from gateway.victims.acknowledge import acknowledge_answered
from handlers.base import InboundContext, Outcome


class VictimAck:
    name = "victim_ack"
    description = "A reply that answered a victim notice's question acknowledges the notice"

    async def handle(self, message: InboundContext) -> Outcome:
        answered = message.facts.get("answered_question")
        if not answered:
            return Outcome.proceed("no question answered")
        notice_id = await acknowledge_answered(message.session, uuid.UUID(str(answered)), utcnow())
        if notice_id is None:
            return Outcome.proceed("the answered question is not a victim notice's")
        message.facts["victim_notice_acknowledged"] = str(notice_id)
        return Outcome.proceed(f"victim notice {notice_id} acknowledged")
