"""Send-time policy: what is checked just before a message leaves, whoever created it.

* `policy` — the delivery job's policy step (opted out, retired recipient, unsendable reasons).
* `consent` — consent and opt-out state per contact point and sender.
* `ratelimit` — per-sender token buckets (Redis when scaled, in process when embedded).
* `quiet_hours` — the recipient's local quiet hours for messages the gateway sends on its own.
"""
