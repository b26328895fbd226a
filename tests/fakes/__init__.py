"""Fake providers that are real servers: a Twilio-compatible HTTP app and an aiosmtpd SMTP server."""
