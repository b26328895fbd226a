"""Messaging and notification gateway for criminal-justice agencies."""

__version__ = "0.1.0"
