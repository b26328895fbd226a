"""The inbound path: store what arrives (Twilio webhook, SMTP listener), then run the handler chain.

`store` commits one row per provider message id; `pipeline` runs `handlers/` over it;
`jobs` holds the job functions the queue runs; `sweep` finds rows a lost enqueue left behind.
"""
