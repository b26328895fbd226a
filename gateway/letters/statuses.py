"""How a letter's status reads on Notify's API: a letter not yet made ready is already `accepted` there.

Notify shows `created` and `sending` letters as `accepted`; every other status as it is
(`received`, `cancelled`, `validation-failed`, `technical-failure`, `permanent-failure`, `returned-letter`).
"""

from __future__ import annotations

from gateway.domain import NotificationStatus

_SHOWN_AS_ACCEPTED = frozenset({NotificationStatus.CREATED.value, NotificationStatus.SENDING.value})


def letter_status(status: str) -> str:
    return NotificationStatus.ACCEPTED.value if status in _SHOWN_AS_ACCEPTED else status
