"""Alerts officers asked for: new-message emails, a daily digest of unanswered replies, out-of-office.

Each member of staff chooses (staff page `/account/alerts`, `gateway.web.alert_settings`):

* **an email when a client writes** (`alert_new_messages`; GATEWAY_INBOUND_STAFF_ALERTS still turns
  it on for everyone). It never holds the message: "You have a new message from a client — sign
  in to read it" and a link. Sent by `handlers.case_handler`, once per burst of unread messages.
* **a daily digest** (`digest_after_hours` = N): at GATEWAY_DIGEST_TIME on the service's clock, an
  email counting their conversations whose last reply has waited more than N hours for an answer
  (`digest.send_due_digests`, run by the sweeper; names and messages are never in it).
* **an absence** (`away_from`..`away_until`, `absence`): a client who writes meanwhile gets the
  `out_of_office` text once per absence, and their reply goes to the covering officer's inbox
  (`covering_staff_id`), when that colleague may hold it (the victim rule applies).

Every email goes through the one send path (`gateway.outbound`) on the email channel.
"""
