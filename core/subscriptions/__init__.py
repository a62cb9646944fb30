"""Subscriptions: Classroom courses and Drive folders whose new videos download, and
what can be subscribed.

Imports every package of core but ops.
"""
