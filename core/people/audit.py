"""The audit trail: who signed in (or failed to), and who changed users, tokens, credentials."""

from __future__ import annotations

from sqlalchemy import select

from core.base.db import Database
from core.base.pagination import Page, keyset_page
from core.people.models import AuditEntry


def record(
    db: Database,
    action: str,
    *,
    actor: str | None,
    target: str | None = None,
    ip: str | None = None,
    request_id: str | None = None,
) -> None:
    """Write one audit row (`action` is sign_in, sign_in_failed, sign_out or resource.verb)."""
    with db.session() as session:
        entry = AuditEntry(
            action=action,
            actor=actor and actor[:64],
            target=target and target[:200],
            ip=ip,
            request_id=request_id,
        )
        session.add(entry)


def entries(db: Database, *, limit: int = 50, cursor: str | None = None) -> Page[AuditEntry]:
    """Audit rows, newest first."""
    with db.session() as session:
        page = keyset_page(
            session, select(AuditEntry), (AuditEntry.id,), limit=limit, cursor=cursor
        )
        session.expunge_all()
        return page
