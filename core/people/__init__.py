"""People: users, their sessions and API tokens, roles, and the audit trail (CONTRACT 8.2)."""
