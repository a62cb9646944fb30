"""core.subscriptions.service: overlapping checks enqueue each video once; dead checks finish."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from core.base.db import database, session_scope
from core.base.models import Download, Subscription, SubscriptionItem
from core.catalog.sources.sync import sync_classroom
from core.subscriptions import service as subscriptions
from tests.fakes.google import drive_file
from tests.helpers import private_redis_db
from tests.services import classroom_client, drive_client, services_of


def _setup(settings, classroom, videos):
    files = [classroom.add_file(f"v{i}.mp4", size=100, seed=i) for i in range(videos)]
    course = classroom.add_course("Química")
    classroom.add_coursework(course, "Aulas", [drive_file(f, f"v{f}") for f in files])
    sync_classroom(
        database(settings.database_url),
        classroom_client(settings),
        drive_client(settings),
    )
    with session_scope(settings.database_url) as session:
        sub = Subscription(source="classroom", source_key=course)
        session.add(sub)
    return sub.id, files


def _quiet(settings):
    # A broker database no worker consumes: the downloads stay queued for the assertions.
    quiet = settings.model_copy(update={"redis_url": private_redis_db(settings.redis_url)})
    return quiet, services_of(quiet)


def _counts(db_url):
    with session_scope(db_url) as session:
        downloads = session.scalar(select(func.count()).select_from(Download))
        per_url = session.execute(select(Download.url, func.count()).group_by(Download.url))
        return downloads, max((n for _, n in per_url), default=0)


def test_overlapping_checks_enqueue_each_video_once(settings, classroom):
    quiet, services = _quiet(settings)
    sub_id, files = _setup(quiet, classroom, 12)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def run():
        try:
            start.wait(timeout=30)
            subscriptions.refresh(services, "classroom")
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    downloads, most = _counts(quiet.database_url)
    assert downloads == len(files) and most == 1
    assert subscriptions.get(database(quiet.database_url), sub_id).downloads == len(files)


def test_a_check_that_died_after_claiming_is_finished_by_the_next(settings, classroom):
    quiet, services = _quiet(settings)
    sub_id, _ = _setup(quiet, classroom, 3)
    with session_scope(quiet.database_url) as session:
        sub = session.get_one(Subscription, sub_id)
    # What a check that died after its claims (before any download) leaves behind.
    with session_scope(quiet.database_url) as session:
        subscriptions._claim(session, sub_id, subscriptions.videos(services, sub))
    assert _counts(quiet.database_url) == (0, 0)

    brought = subscriptions.check(services, sub_id)
    assert len(brought) == 3 and _counts(quiet.database_url) == (3, 1)
    assert subscriptions.check(services, sub_id) == []
    with session_scope(quiet.database_url) as session:
        claims = list(session.scalars(select(SubscriptionItem)))
    assert len(claims) == 3 and all(c.download_id and c.brought for c in claims)


def test_a_video_that_leaves_the_course_keeps_its_download(settings, classroom):
    quiet, services = _quiet(settings)
    sub_id, _ = _setup(quiet, classroom, 2)
    subscriptions.check(services, sub_id)
    course = subscriptions.get(database(quiet.database_url), sub_id).course_id
    classroom.remove_course(course)
    sync_classroom(
        database(quiet.database_url),
        classroom_client(quiet),
        drive_client(quiet),
    )
    assert subscriptions.check(services, sub_id) == []
    assert _counts(quiet.database_url) == (2, 1)
    assert subscriptions.get(database(quiet.database_url), sub_id).downloads == 2
