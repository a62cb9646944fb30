"""The library on disk (CONTRACT 8.5) with a real worker: a subscribed Drive course lands in a
Jellyfin-style layout (course/section/NNN - title [id].ext) with an episode .nfo beside each
video, and tvshow.nfo (sections as named seasons) and poster.jpg in the course folder; a
subscription's own template replaces DOWNLOAD_TEMPLATE."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from api import create_app
from core.catalog import indexing
from tests.helpers import own_worker_env, settings_from_env, wait_for
from tests.media import make_video
from tests.services import drive_client, services_of
from tests.workers import running_worker


def _client(env):
    return create_app({key.lower(): value for key, value in env.items()}).test_client()


def _all_done(client, count):
    def done():
        items = client.get("/api/downloads?limit=200").get_json()["items"]
        ended = [d for d in items if d["state"] in ("succeeded", "failed", "canceled")]
        return items if len(items) == count and len(ended) == count else None

    items = wait_for(done, 120, what=f"{count} downloads to end")
    assert all(d["state"] == "succeeded" for d in items), items
    return items


def _course(drive, tmp_path):
    video = make_video(tmp_path / "lesson.mp4", seconds=1).read_bytes()
    course = drive.add_folder('Python <Básico> & "Co"')
    first = drive.add_folder("Módulo 2", course)
    second = drive.add_folder("Módulo 10", course)
    files = {
        "intro": drive.add_file("Intro.mp4", course, content=video),
        "a10": drive.add_file("Aula 10.mp4", first, content=video),
        "a2": drive.add_file("aula 2.mp4", first, content=video),
        "b1": drive.add_file("../Aula 1: começo.mp4", second, content=video),
    }
    return course, files


def test_a_subscribed_course_lands_as_a_show_with_seasons_episodes_nfo_and_poster(
    base_env, settings, drive, tmp_path
):
    env = own_worker_env(
        base_env, write_nfo="true",
        data_dir=tmp_path / "var", download_dir=tmp_path / "var" / "downloads",
    )  # fmt: skip
    config = settings_from_env(env)
    course, files = _course(drive, tmp_path)
    indexing.rebuild_drive(services_of(config), drive_client(config))
    client = _client(env)
    created = client.post("/api/subscriptions", json={"source": "drive", "folder_id": course})
    assert created.status_code == 201 and created.get_json()["downloads"] == 4
    with running_worker(env, tmp_path / "worker.log"):
        items = _all_done(client, 4)
    ids = {d["url"].split("/")[5]: d["item_id"] for d in items}
    root = config.download_dir
    show = "Python _Básico_ & _Co_"  # <, > and " are not safe on every filesystem
    expected = {
        f"{show}/001 - Intro [{ids[files['intro']]}].mp4",
        f"{show}/Módulo 2/001 - aula 2 [{ids[files['a2']]}].mp4",
        f"{show}/Módulo 2/002 - Aula 10 [{ids[files['a10']]}].mp4",
        f"{show}/Módulo 10/001 - _Aula 1_ começo [{ids[files['b1']]}].mp4",
    }
    assert {d["file"]["path"] for d in items} == expected
    for path in expected:
        assert (root / path).is_file()
        episode = ET.parse(root / (path[: -len(".mp4")] + ".nfo")).getroot()
        assert episode.tag == "episodedetails"
        assert episode.findtext("showtitle") == 'Python <Básico> & "Co"', "escaped, not cleaned"
        assert episode.findtext("aired")
    nfo = {
        path.split("/")[-1]: ET.parse(root / (path[: -len(".mp4")] + ".nfo")).getroot()
        for path in expected
    }
    by_name = {
        name.split(" [")[0]: (e.findtext("season"), e.findtext("episode"), e.findtext("title"))
        for name, e in nfo.items()
    }
    assert by_name == {
        "001 - Intro": ("0", "1", "Intro"),
        "001 - aula 2": ("1", "1", "aula 2"),
        "002 - Aula 10": ("1", "2", "Aula 10"),
        "001 - _Aula 1_ começo": ("2", "1", "../Aula 1: começo"),
    }
    tvshow = ET.parse(root / show / "tvshow.nfo").getroot()
    assert tvshow.tag == "tvshow" and tvshow.findtext("title") == 'Python <Básico> & "Co"'
    seasons = {s.get("number"): s.text for s in tvshow.iter("namedseason")}
    assert seasons == {"1": "Módulo 2", "2": "Módulo 10"}
    assert (root / show / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert not list(root.glob("**/*.tmp")), "no temporary files left behind"


def test_a_subscriptions_own_template_names_its_downloads(
    settings, drive, worker, client, tmp_path
):
    course, _files = _course(drive, tmp_path)
    indexing.rebuild_drive(services_of(settings), drive_client(settings))
    template = "{source}/{course:.6}/{section}/{title} [{id}].{ext}"
    created = client.post(
        "/api/subscriptions", json={"source": "drive", "folder_id": course, "template": template}
    )
    assert created.status_code == 201, created.get_json()
    items = _all_done(client, 4)
    paths = {d["file"]["path"] for d in items}
    assert {p.rsplit(" [", 1)[0] for p in paths} == {
        "drive/Python/Intro", "drive/Python/Módulo 2/aula 2", "drive/Python/Módulo 2/Aula 10",
        "drive/Python/Módulo 10/_Aula 1_ começo",
    }  # fmt: skip
    for path in paths:
        video = settings.download_dir / path
        assert video.is_file() and not video.with_suffix(".nfo").exists(), "WRITE_NFO is off"
