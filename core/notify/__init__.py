"""Notifications and webhooks: recording, sending and pruning event deliveries.

Imports base and jobs; the caller builds the event body.
"""
