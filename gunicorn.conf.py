"""Gunicorn settings for `web`; a bad setting stops the master with one line naming the variable."""

import gc
import os
import shutil
import tempfile
from pathlib import Path

from gunicorn import glogging

from core.base.db import prepare_schema
from core.base.logging import dict_config
from core.base.settings import settings_or_exit
from gunicorn_errors import install as install_envelope_errors

_settings = settings_or_exit()

_host = _settings.web_address
bind = f"[{_host}]:{_settings.port}" if ":" in _host else f"{_host}:{_settings.port}"
workers = _settings.web_concurrency
# Threads: a long stream occupies one thread, not a whole worker, and the worker's heartbeat
# runs on its own thread, so the timeout below never kills a stream in progress.
worker_class = "gthread"
threads = _settings.web_threads
timeout = _settings.web_timeout_s
# SIGTERM: the master closes the listening socket (new connections are refused) and workers
# finish their in-flight requests for up to this long; a stream still running then is cut.
graceful_timeout = _settings.web_graceful_timeout_s
keepalive = 5
# gunicorn 27's control interface (gunicornc) is not used: its socket goes under $HOME, which is
# read-only in the image (every web pod logged "Control server error: Permission denied"), and
# it would be one more way into a running web.
control_socket_disable = True
# X-Forwarded-* are believed in the app only, as TRUSTED_PROXIES says (api/headers.py), never
# by gunicorn's own default trust of loopback.
forwarded_allow_ips = ""
accesslog = None


class Logger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger without the access-log fields it builds for every request whenever a
    logging config is given, even though no access log is written (about 3% of a poll)."""

    def access(self, resp: object, req: object, environ: object, request_time: object) -> None:
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = Logger
logconfig_dict = dict_config(_settings.log_format, _settings.log_level)
# Errors gunicorn answers itself (request line too long, bad headers) in the JSON envelope too.
install_envelope_errors()


def on_starting(server: object) -> None:
    """Check (or bring) the schema up to date once, in the master, before any worker serves."""
    prepare_schema(_settings.database_url, _settings.migrate_on_start)
    _fresh_metrics_dir()


def post_worker_init(worker: object) -> None:
    """Keep the loaded app out of the cyclic GC's scans (`gc.freeze`).

    Its ~120,000 objects live as long as the worker; a full collection scanned them all with the
    GIL held, 70 to 150 ms here, and every request of the worker waited (once in ~5,000 polls).
    """
    gc.collect()
    gc.freeze()


# Web metrics (api.metrics): every worker writes its samples into one folder, prepared here in
# the master before any worker forks; whichever worker answers /metrics serves their sum.
_METRICS_PREFIX = "aula-web-metrics-"


def _fresh_metrics_dir() -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_METRICS_PREFIX)
        return
    # An operator's folder: empty of old samples (only prometheus_client's files are touched).
    Path(folder).mkdir(parents=True, exist_ok=True)
    for stale in Path(folder).glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: object, worker: object) -> None:
    """A worker died or was replaced: its live gauges stop counting (its counters stay summed)."""
    from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

    GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)  # type: ignore[attr-defined]


def on_exit(server: object) -> None:
    """Remove the metrics folder this master made for itself."""
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))
    if folder.name.startswith(_METRICS_PREFIX) and folder.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(folder, ignore_errors=True)
