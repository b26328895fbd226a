"""The staff web interface: sign-in, sessions, pages and their static files.

`gateway.web.routes.setup_web(app)` mounts it. Modules that define types the application keys
need (`context`, `pages`, `passwords`, `sessions`) import nothing from `gateway.keys`, so the keys
module can import them; this package's `__init__` stays empty for the same reason.
"""
