"""Broadcasts: one message to many people, previewed, approved, paced, live and cancellable.

* `audience` — who: a caseload, an office, a program, a tag, everyone with an appointment on a day
  (from the directory), each person's channel from their preferences and contact points.
* `upload` — or an uploaded list (CSV/XLSX, or the bulk API's rows/csv), checked row by row.
* `content` — what: a template (and its sibling in the other channel) or free text, per recipient.
* `preview` — counts by channel, SMS fragments, time at the senders' rates, who is left out and why.
* `lifecycle` — the statuses, the approval rule, send / schedule / pause / resume / cancel / retry.
* `write` — recipients written as notifications in bulk (`broadcast_id`, `automatic`).
* `pump` — the job that hands them to the delivery path a bounded window at a time, paced.
* `progress` — counts over the notifications, the text progress bar and the per-recipient report.
"""
