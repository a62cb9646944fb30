"""Drive indexing against the fake Google: faults, restarts, the changes feed, token refresh."""

from __future__ import annotations

import pytest

from core.base.db import database
from core.base.errors import TransientError, UpstreamRefused
from core.catalog import store as catalog
from core.catalog.indexing import rebuild_drive, sync_drive
from tests.services import drive_client, services_of


def _drive_items(settings) -> dict[str, str]:
    page = catalog.list_items(database(settings.database_url), source="drive", limit=200)
    assert page.next_cursor is None
    return {item.source_id: item.title for item in page.items}


def _tree(google) -> dict[str, str]:
    """A small Drive: nested folders, videos, a Doc, a trashed file; returns id -> name."""
    lessons = google.add_folder("Aulas")
    week = google.add_folder("Semana 1", lessons)
    files = {
        google.add_file("intro.mp4", lessons, duration_ms=61_000): "intro.mp4",
        google.add_file("parte 2.mkv", week, mime_type="video/x-matroska"): "parte 2.mkv",
        google.add_file("quadro.mp4", week): "quadro.mp4",
        google.add_doc("plano de aula", lessons): "plano de aula",
        google.add_file("na raiz.mp4"): "na raiz.mp4",
    }
    google.trash(google.add_file("apagado.mp4", week))
    return files


def test_rebuild_with_a_fifth_of_requests_failing_ends_with_exactly_the_files(settings, drive):
    expected = _tree(drive)
    for index in range(12):
        module = drive.add_folder(f"Módulo {index}")
        for part in range(3):
            name = f"módulo {index} parte {part}.mp4"
            expected[drive.add_file(name, module, size=1000, seed=index * 10 + part)] = name
    drive.faults(rate=0.2, seed=11, retry_after=1, slow_s=0.3)
    result = rebuild_drive(services_of(settings), drive_client(settings))
    drive.clear_faults()
    assert _drive_items(settings) == expected
    assert result["items"] == len(expected)
    assert any(record.fault for record in drive.requests), "no fault was injected"
    intro = catalog.find_item(database(settings.database_url), "drive", next(iter(expected)))
    assert intro is not None
    assert intro.duration_s == 61.0 and intro.is_video and intro.checksum


def test_a_rebuild_that_fails_half_way_removes_nothing(settings, drive):
    files = _tree(drive)
    rebuild_drive(services_of(settings), drive_client(settings))
    gone = next(iter(files))
    drive.delete(gone)
    quadro = next(fid for fid, name in files.items() if name == "quadro.mp4")
    week = drive.file(quadro)["parents"][0]
    drive.fail_next(50, "503", match=week)  # the second folder's listing keeps failing
    with pytest.raises(TransientError):
        rebuild_drive(
            services_of(settings),
            drive_client(settings),
        )
    drive.clear_faults()
    assert gone in _drive_items(settings), "a failed rebuild removed an item"
    rebuild_drive(services_of(settings), drive_client(settings))
    assert gone not in _drive_items(settings)


def test_a_rejected_page_token_restarts_the_listing(settings, drive):
    big = drive.add_folder("Muitos")
    ids = {drive.add_file(f"v{i:04d}.mp4", big, size=10, seed=i) for i in range(1100)}
    expired = []

    def after_first_page(current, total, message):
        if not expired and current >= 1000:  # the first page of "Muitos" has arrived
            drive.expire_page_tokens()
            expired.append(current)

    rebuild_drive(
        services_of(settings),
        drive_client(settings),
        after_first_page,
    )
    items = catalog.list_items(
        database(settings.database_url), source="drive", folder_id=big, limit=200
    )
    seen = set()
    cursor = None
    while True:
        page = catalog.list_items(
            database(settings.database_url), source="drive", folder_id=big, limit=200, cursor=cursor
        )
        seen |= {item.source_id for item in page.items}
        if not (cursor := page.next_cursor):
            break
    assert items.items and seen == ids
    rejected = [r for r in drive.requests if "pageToken" in r.query and r.status == 400]
    assert rejected, "the expired page token was never sent"


def test_sync_picks_up_added_renamed_trashed_deleted_and_moved_out(settings, drive):
    lessons = drive.add_folder("Aulas")
    week = drive.add_folder("Semana 1", lessons)
    outside = drive.add_folder("Fora")
    kept, renamed, trashed, deleted, moved = (
        drive.add_file(f"{name}.mp4", week) for name in ("a", "b", "c", "d", "e")
    )
    drive.add_file("fora.mp4", outside)
    scoped = settings.model_copy(update={"drive_folder_ids": [lessons]})
    rebuild_drive(services_of(scoped), drive_client(scoped))
    assert set(_drive_items(scoped)) == {kept, renamed, trashed, deleted, moved}

    added = drive.add_file("nova aula.mp4", week)
    drive.rename(renamed, "b (editada).mp4")
    drive.trash(trashed)
    drive.delete(deleted)
    drive.move(moved, outside)
    result = sync_drive(services_of(scoped), drive_client(scoped))

    assert _drive_items(scoped) == {
        kept: "a.mp4",
        renamed: "b (editada).mp4",
        added: "nova aula.mp4",
    }
    assert result["full_rebuild"] == 0 and result["removed"] == 3
    state = catalog.get_state(database(scoped.database_url), "drive")
    assert state.page_token == drive.start_page_token()


def test_sync_with_a_rejected_changes_token_rebuilds_in_full(settings, drive):
    files = _tree(drive)
    rebuild_drive(services_of(settings), drive_client(settings))
    extra = drive.add_file("depois.mp4")
    drive.expire_change_tokens()  # the stored token now predates what Drive keeps
    result = sync_drive(services_of(settings), drive_client(settings))
    assert result["full_rebuild"] == 1
    assert set(_drive_items(settings)) == set(files) | {extra}


def test_an_expired_access_token_is_refreshed_once(settings, drive):
    client = drive_client(settings)
    client.start_page_token()
    before = drive.token_requests
    drive.expire_all_tokens()
    assert client.start_page_token()
    assert drive.token_requests == before + 1


def test_final_refusals_are_clear_and_not_retried(settings, drive):
    video = drive.add_file("bloqueado.mp4")
    drive.set_download_error(video, "downloadQuotaExceeded")
    client = drive_client(settings)
    with pytest.raises(UpstreamRefused, match="quota"):
        client.media(video)
    drive.wait_idle()
    assert len([r for r in drive.requests if r.media]) == 1  # not retried
    drive.revoke_refresh_token()
    with pytest.raises(UpstreamRefused, match="invalid_grant"):
        drive_client(settings).start_page_token()
