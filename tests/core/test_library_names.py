"""Where a finished download lands (core.downloads.library): DOWNLOAD_TEMPLATE filled from the
download, what its engine said (yt-dlp's uploader and upload_date), never over another file."""

from __future__ import annotations

from core.base.models import Download
from core.downloads.engine import FetchJob, Staged
from core.downloads.library import final_path
from tests.services import services_of


def _download(db, **fields):
    with db.session() as session:
        row = Download(url="https://videos.example/watch?v=1", kind="ytdlp", state="running",
                       **fields)  # fmt: skip
        session.add(row)
        session.flush()
        return FetchJob.of(row)


def test_the_engines_uploader_and_upload_date_fill_the_template(settings, db, tmp_path):
    template = "{uploader}/{upload_date} - {title} [{id}].{ext}"
    services = services_of(settings.model_copy(update={"download_template": template}))
    job = _download(db)
    staged = Staged(tmp_path / "data.webm", "0" * 64, "A/B talk",
                    {"uploader": "Prof. Ana", "upload_date": "20261201"})  # fmt: skip
    final = final_path(services, job, staged, "A/B talk")
    relative = final.relative_to(settings.download_dir.resolve())
    assert str(relative) == f"Prof. Ana/20261201 - A_B talk [{job.id}].webm"


def test_a_name_another_file_holds_gets_the_download_id_added(settings, db, tmp_path):
    services = services_of(
        settings.model_copy(update={"download_template": "{title} [{id}].{ext}"})
    )
    job = _download(db, title="Aula")
    staged = Staged(tmp_path / "data.mp4", "0" * 64, None)
    first = final_path(services, job, staged, "Aula")
    first.parent.mkdir(parents=True, exist_ok=True)
    first.write_bytes(b"someone else's")
    try:
        second = final_path(services, job, staged, "Aula")
        assert second != first and second.name == f"Aula [{job.id}].{job.id}.mp4"
    finally:
        first.unlink()
