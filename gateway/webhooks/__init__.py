"""Provider webhooks: Twilio inbound SMS and status callbacks."""
