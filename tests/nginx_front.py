"""deploy/nginx/aula.conf run by the host's nginx on loopback, in front of a test's gunicorn.

The compose file's paths are mapped onto the test's: the upstream, the listening port, the
media root and download folder (in the `_accel` and `_direct` locations and their aliases), the
UI's static folder and the included files. A second server on its own port serves the media
root directly (`/f/<name>`), as the reference of bench/stream_front.py. Needs nginx on PATH
(Debian's, with the secure_link module).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import ROOT, STARTUP_TIMEOUT_S, free_port, wait_for

NGINX = "/usr/sbin/nginx"
MAIN = """{user}worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/aula.conf;
    server {{
        listen 127.0.0.1:{direct_port};
        sendfile on;
        tcp_nopush on;
        location /f/ {{ alias {media}/; }}
    }}
}}
"""


@dataclass
class Front:
    port: int  # deploy/nginx/aula.conf
    direct_port: int  # the media root served by nginx alone
    access_log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def nginx_path() -> str | None:
    found = shutil.which("nginx") or (NGINX if Path(NGINX).exists() else None)
    return found


def render(web_port: int, port: int, media: Path, downloads: Path, tmp: Path) -> str:
    """aula.conf with the compose paths replaced by this machine's."""
    text = (ROOT / "deploy/nginx/aula.conf").read_text()
    media_dir, downloads_dir = str(media.resolve()), str(downloads.resolve())
    for old, new in (
        ("server web:8000;", f"server 127.0.0.1:{web_port};"),
        ("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;"),
        ("/etc/nginx/conf.d/", f"{ROOT}/deploy/nginx/"),
        ("/etc/nginx/media-link*.inc", f"{tmp}/media-link*.inc"),
        ("/srv/aula/static", str(ROOT / "api/static")),
        ("/_accel/media/", f"/_accel{media_dir}/"),
        ("/_direct/media/", f"/_direct{media_dir}/"),
        ("alias /media/;", f"alias {media_dir}/;"),
        ("/_accel/data/downloads/", f"/_accel{downloads_dir}/"),
        ("/_direct/data/downloads/", f"/_direct{downloads_dir}/"),
        ("alias /data/downloads/;", f"alias {downloads_dir}/;"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return text


@contextmanager
def nginx_front(
    web_port: int, media: Path, downloads: Path, tmp: Path, secret: str | None
) -> Iterator[Front]:
    """nginx with aula.conf in front of 127.0.0.1:`web_port`, until the block ends."""
    binary = nginx_path()
    assert binary, "nginx is not installed (apt-get install -y nginx)"
    tmp.mkdir(parents=True, exist_ok=True)
    downloads.mkdir(parents=True, exist_ok=True)
    front = Front(free_port(), free_port(), tmp / "access.log")
    (tmp / "aula.conf").write_text(render(web_port, front.port, media, downloads, tmp))
    if secret is not None:  # what the image's envsubst step writes from MEDIA_LINK_SECRET
        (tmp / "media-link.inc").write_text(f'set $aula_media_link_secret "{secret}";\n')
    # As root, nginx's workers would drop to `nobody`, who cannot read a test's private folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = MAIN.format(user=user, tmp=tmp, direct_port=front.direct_port, media=media.resolve())
    (tmp / "nginx.conf").write_text(main)
    log = (tmp / "nginx.out").open("ab")
    process = subprocess.Popen(
        [binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _answers(front, process), STARTUP_TIMEOUT_S, what="nginx")
        yield front
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _answers(front: Front, process: subprocess.Popen[bytes]) -> bool:
    import requests

    if process.poll() is not None:
        raise RuntimeError(f"nginx exited with {process.returncode}")
    try:
        return requests.get(f"{front.base}/nginx-health", timeout=2).ok
    except requests.ConnectionError:
        return False
