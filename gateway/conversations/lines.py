"""The plain line a thread shows under an inbound keyword (STOP, START, HELP, YES, "Stop.").

The `opt_out` handler keeps a short `effect` beside its decision on the inbound message
(`InboundMessage.decisions`); this turns it into words naming the person, e.g. "Jordan Rivera
opted out of texts (STOP)". Ids and decision lines stay in the case record; this is for reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.keywords import keyword_of

WHAT = {"sms": "texts", "email": "emails"}

LINES = {
    "opted_out": "{name} opted out of {what} ({word}). Nothing can be sent this way until they reply START.",
    "already_opted_out": "{name} sent {word} again: they had already opted out of {what}.",
    "opted_in": "{name} opted back in to {what} ({word}). Messages can be sent again.",
    "not_opted_out": "{name} sent {word}: they had not opted out, so nothing changed.",
    "help_sent": "{name} asked for help ({word}): the office's contact details were sent automatically.",
    "help_failed": "{name} asked for help ({word}): the automatic answer with the office's details could not be sent.",
}


def keyword_line(name: str, channel: str, body: str, decisions: Sequence[dict[str, Any]] | None) -> str | None:
    """The line for a keyword message, or None for an ordinary reply."""
    effect = next((d.get("effect") for d in decisions or () if d.get("handler") == "opt_out" and d.get("effect")), None)
    if effect not in LINES:
        return None
    found = keyword_of(body)
    word = found[0] if found else body.strip().upper()
    return LINES[effect].format(name=name, what=WHAT.get(channel, "messages"), word=word)
