"""Subscriptions and their weekly digests: confirm, send, unsubscribe, mail."""
