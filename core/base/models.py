"""SQLAlchemy 2 models: the database is the source of truth for what a user can see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always gives them back aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class TaskRecord(Base):
    """One row per enqueued unit of work; its id is the Celery task id."""

    __tablename__ = "task_records"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="PENDING")
    queue: Mapped[str] = mapped_column(String(32), default="default")
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # Set while a single-instance task (one rebuild per source) is active; unique, so a
    # second request finds the running one instead of starting another.
    active_key: Mapped[str | None] = mapped_column(String(128), default=None)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    # Deliveries that started and never ended: each one is a worker that died under the task.
    deliveries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # The owner lease (core/jobs/leases.py): the delivery running the task, and until when
    # (epoch seconds, the database's clock) its worker last proved it alive.
    owner: Mapped[str | None] = mapped_column(String(160), default=None)
    lease_until: Mapped[float | None] = mapped_column(Float, default=None)

    __table_args__ = (
        Index("ix_task_records_created", "created_at", "id"),
        Index("ix_task_records_state_created", "state", "created_at"),
        Index("ix_task_records_name_created", "name", "created_at"),
        Index("uq_task_records_active_key", "active_key", unique=True),
    )


class Credential(Base):
    """A secret (Google OAuth client and refresh token, yt-dlp cookies), only as a Fernet token."""

    __tablename__ = "credentials"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CatalogItem(Base):
    """A file of a source: a local file, a Drive file, or a Classroom material."""

    __tablename__ = "catalog_items"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(1024))
    title: Mapped[str] = mapped_column(String(1024))
    title_key: Mapped[str] = mapped_column(String(1024), default="")
    mime_type: Mapped[str | None] = mapped_column(String(255), default=None)
    is_video: Mapped[bool] = mapped_column(Boolean, default=False)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    modified_at: Mapped[datetime | None] = mapped_column(default=None)
    folder_id: Mapped[str | None] = mapped_column(String(1024), default=None)
    course_id: Mapped[str | None] = mapped_column(String(64), default=None)
    checksum: Mapped[str | None] = mapped_column(String(128), default=None)
    url: Mapped[str | None] = mapped_column(String(2048), default=None)
    thumbnail_state: Mapped[str] = mapped_column(String(16), default="pending")
    thumbnail_link: Mapped[str | None] = mapped_column(String(2048), default=None)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    media: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # CONTRACT 8.4
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The Google connection that streams it (others may reach it too: core.catalog.reach).
    connection_id: Mapped[int | None] = mapped_column(BigInteger, default=None)

    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_catalog_items_source"),
        Index("ix_catalog_items_source_id", "source", "id"),
        Index("ix_catalog_items_folder", "source", "folder_id", "id"),
        Index("ix_catalog_items_course", "course_id", "id"),
        Index("ix_catalog_items_title_key", "title_key"),
    )


class CatalogFolder(Base):
    """A folder of a source, so a folder can be browsed from the catalog."""

    __tablename__ = "catalog_folders"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(1024))
    parent_id: Mapped[str | None] = mapped_column(String(1024), default=None)
    modified_at: Mapped[datetime | None] = mapped_column(default=None)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_catalog_folders_source"),
        Index("ix_catalog_folders_parent", "source", "parent_id"),
    )


class SourceState(Base):
    """Per-source sync state: the Drive changes page token and when things last ran."""

    __tablename__ = "source_states"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    page_token: Mapped[str | None] = mapped_column(String(512), default=None)
    last_rebuild_at: Mapped[datetime | None] = mapped_column(default=None)
    last_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(2000), default=None)
    extra: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class Download(Base):
    """A file fetched into DOWNLOAD_DIR, by the Drive API or by yt-dlp."""

    __tablename__ = "downloads"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    format: Mapped[str | None] = mapped_column(String(256), default=None)
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalog_items.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[str] = mapped_column(String(16))  # a DownloadKind
    drive_file_id: Mapped[str | None] = mapped_column(String(256), default=None)
    title: Mapped[str | None] = mapped_column(String(1024), default=None)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    # Set while queued, running or succeeded: one such download per normalized URL and format.
    dedupe_key: Mapped[str | None] = mapped_column(String(64), default=None)
    progress: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    file_path: Mapped[str | None] = mapped_column(String(1024), default=None)
    file_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    # The finished file's media type and duration (probed once), shown by the item it plays.
    mime_type: Mapped[str | None] = mapped_column(String(255), default=None)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    media: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # CONTRACT 8.4
    error: Mapped[str | None] = mapped_column(String(2000), default=None)
    task_id: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # The library (CONTRACT 8.5): why a queued download waits; exempt from retention.
    waiting_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("uq_downloads_dedupe_key", "dedupe_key", unique=True),
        Index("ix_downloads_state_id", "state", "id"),
        Index("ix_downloads_item", "item_id"),
    )


class Course(Base):
    """A Google Classroom course whose materials become catalog items."""

    __tablename__ = "courses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(1024))
    section: Mapped[str | None] = mapped_column(String(1024), default=None)
    state: Mapped[str | None] = mapped_column(String(32), default=None)
    alternate_link: Mapped[str | None] = mapped_column(String(2048), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    connection_id: Mapped[int | None] = mapped_column(BigInteger, default=None)  # who synced it
    # courses.topics.list as [{"id", "name"}] in the order Classroom gives (the course's sections).
    topics: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, default=None)


class Subscription(Base):
    """A Classroom course or an indexed Drive folder tree whose new videos download themselves."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # Source.CLASSROOM or DRIVE
    source_key: Mapped[str] = mapped_column(String(1024))  # the course id or the folder id
    format: Mapped[str | None] = mapped_column(String(256), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    # The library (CONTRACT 8.5): its own naming template, and what cleanup prunes.
    template: Mapped[str | None] = mapped_column(String(1024), default=None)
    retention: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    __table_args__ = (UniqueConstraint("source", "source_key", name="uq_subscriptions_source"),)


class SubscriptionItem(Base):
    """A video a subscription claimed: inserted once per video (unique), so overlapping syncs
    enqueue it once; `download_id` is set once its download exists."""

    __tablename__ = "subscription_items"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(64))  # sha256 of the item's source and id
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalog_items.id", ondelete="SET NULL"), default=None
    )
    download_id: Mapped[int | None] = mapped_column(
        ForeignKey("downloads.id", ondelete="SET NULL"), default=None
    )
    brought: Mapped[bool] = mapped_column(Boolean, default=False)  # the subscription created it
    error: Mapped[str | None] = mapped_column(String(2000), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("subscription_id", "item_key", name="uq_subscription_items_key"),
    )


class Delivery(Base):
    """One event for one webhook URL: written with the change it announces, sent by a task."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))  # X-Aula-Delivery: one per event
    event: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))  # deliveries of one subject go in order
    # Webhook URLs may carry tokens (Slack's do): rows keep only a digest of the URL, found
    # again in WEBHOOK_URLS when sending, and its host for people to read.
    target: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # the exact bytes sent (and signed), every attempt
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(2000), default=None)
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_deliveries_chain", "target", "subject", "state", "id"),
        Index("ix_deliveries_state_id", "state", "id"),
    )


class GoogleConnection(Base):
    """One Google account (OAuth) or service account Aula reaches Drive and Classroom through."""

    __tablename__ = "google_connections"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "oauth" or "service_account"
    email: Mapped[str] = mapped_column(String(320), unique=True)  # one connection per account
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    status_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    drive_folder_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What Drive last said of each of those folders: {id: {"name", "readable"}}, so Settings
    # names them without asking Drive, also once one cannot be read any more.
    drive_folder_names: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Fernet token of the JSON secrets (refresh token, or the service account's key): never shown.
    secret: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class GoogleOAuthState(Base):
    """A started authorization: single-use, short-lived; any web worker can finish it."""

    __tablename__ = "google_oauth_states"

    # A digest of the state: the state itself is the capability that finishes the flow.
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    verifier: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token of the PKCE verifier
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    connection_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), default=None
    )  # a reconnect: the connection whose tokens the result replaces
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
