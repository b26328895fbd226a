"""Inbound message handlers: a registry and one small module per handler (see registry.py)."""
