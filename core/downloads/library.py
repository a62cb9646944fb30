"""Where a finished download lands: DOWNLOAD_TEMPLATE (or its subscription's template) filled
from the item's place in its course (core.catalog.placement), every part made safe, always
under DOWNLOAD_DIR. A name another file holds gets the download's id added, never overwritten."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.base import naming
from core.base.models import CatalogItem, Download, GoogleConnection, Subscription, SubscriptionItem
from core.base.services import Services
from core.base.settings import Settings
from core.catalog.placement import Placement, placement
from core.downloads import catalog_link
from core.downloads.engine import FetchJob, Staged


@dataclass(frozen=True)
class Named:
    """A download's place in the library: the template's values and where it sits in a course."""

    values: dict[str, Any]
    place: Placement
    item: CatalogItem | None
    template: str


def drive_roots(session: Session, settings: Settings) -> set[str]:
    """The Drive folders indexed: DRIVE_FOLDER_IDS and every connection's."""
    roots = set(settings.drive_folder_ids)
    for folders in session.scalars(select(GoogleConnection.drive_folder_ids)):
        roots.update(folders or [])
    return roots


def template_for(session: Session, settings: Settings, download: Download) -> str:
    """The template of the subscription that brought `download` (found by its item too: the
    download may end before its subscription records it), else DOWNLOAD_TEMPLATE."""
    mine = SubscriptionItem.download_id == download.id
    if download.item_id is not None:
        mine = or_(mine, SubscriptionItem.item_id == download.item_id)
    own = session.scalar(
        select(Subscription.template)
        .join(SubscriptionItem, SubscriptionItem.subscription_id == Subscription.id)
        .where(mine, Subscription.template.is_not(None))
        .order_by(Subscription.id)
        .limit(1)
    )
    return own or settings.download_template


def describe(session: Session, settings: Settings, download: Download, ext: str) -> Named:
    """The template values of `download` (whose file has extension `ext`)."""
    item = catalog_link.item_of(session, download)
    place = placement(session, item, drive_roots(session, settings)) if item else Placement()
    stamp = item.modified_at if item is not None else None
    values = {
        "source": item.source if item is not None else download.kind,
        "course": place.course,
        "section": place.section,
        "position": place.position or 0,
        "title": _stem(download.title or (item.title if item else None) or "download", ext),
        "id": item.id if item is not None else download.id,
        "uploader": (item.extra or {}).get("uploader") if item is not None else None,
        "upload_date": stamp.strftime("%Y%m%d") if stamp else None,
        "ext": ext.lstrip(".").lower() or "bin",
    }
    return Named(values, place, item, template_for(session, settings, download))


def _stem(title: str, ext: str) -> str:
    """A title without the extension the file gets anyway ("Aula 2.mp4" -> "Aula 2")."""
    suffix = ext.lower() if ext.startswith(".") else f".{ext.lower()}"
    return title[: -len(suffix)] if len(suffix) > 1 and title.lower().endswith(suffix) else title


def final_path(services: Services, job: FetchJob, staged: Staged, title: str | None) -> Path:
    """Where the staged file of `job` goes (its folders not made yet)."""
    settings = services.settings
    with services.db.session() as session:
        download = session.get_one(Download, job.id)
        download.title = title  # in this session only: the name uses the title found
        named = describe(session, settings, download, staged.path.suffix)
        session.rollback()
    named.values.update({k: v for k, v in staged.meta.items() if k in ("uploader", "upload_date")})
    final = naming.place(settings.download_dir, named.template, named.values)
    if final.exists():  # another download's file (a forced re-download): keep both
        final = final.with_name(f"{final.stem}.{job.id}{final.suffix}")
    return final
