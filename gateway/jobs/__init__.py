"""Background jobs: delivery and the sweeper, run by arq workers (scaled) or in-process (embedded).

* `queue` — `JobQueue`, the one interface everything enqueues through; `ArqQueue` and `LocalQueue`.
* `context` — `open_job_context`: the clients a job gets in `ctx`, built the same way everywhere.
* `registry` — every job function by name.
* `delivery` — `deliver_batch` and `deliver_notification`, one code path through `prepare` (read,
  policy, claim) and `outcome` (what is written); `receipts` — provider status updates and callbacks;
  `sweeper` — `sweep`; `worker` — arq `WorkerSettings`.

Jobs take ids, never objects, claim their row with a conditional UPDATE, and are safe to run twice.
"""
