"""A subscription's library settings (CONTRACT 8.5): its naming template and its retention."""

from __future__ import annotations

from typing import Any

from core.base import naming
from core.base.db import Database
from core.base.errors import NotFound, ValidationFailed
from core.base.models import Subscription

RETENTION_KEYS = ("keep_latest", "delete_watched_after_days")


def change(db: Database, subscription_id: int, changes: dict[str, Any]) -> None:
    """Set a subscription's template and/or retention (null: back to DOWNLOAD_TEMPLATE, no
    retention); what it downloaded keeps its names. NotFound, or ValidationFailed (a 400)."""
    values = {**checked(changes), **{k: None for k, v in changes.items() if v is None}}
    with db.session() as session:
        sub = session.get(Subscription, subscription_id)
        if sub is None:
            raise NotFound(f"No subscription with id {subscription_id}.")
        for name, value in values.items():
            setattr(sub, name, value)


def checked(library: dict[str, Any]) -> dict[str, Any]:
    """`template` and `retention` checked (ValidationFailed, a 400, names what is wrong)."""
    out: dict[str, Any] = {}
    template = library.get("template")
    if template is not None:
        try:
            out["template"] = naming.check(template)
        except naming.TemplateError as error:
            raise ValidationFailed(f"template: {error}.", {"field": "template"}) from None
    retention = library.get("retention")
    if retention is not None:
        out["retention"] = {key: retention.get(key) for key in RETENTION_KEYS}
        for key, value in out["retention"].items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < (1 if key == "keep_latest" else 0)):  # fmt: skip
                raise ValidationFailed(
                    f"retention.{key}: a whole number ({'1' if key == 'keep_latest' else '0'}"
                    " or more), or null.",
                    {"field": f"retention.{key}"},
                )
    return out
