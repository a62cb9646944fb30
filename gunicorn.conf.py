"""Gunicorn settings for `web`; a bad setting stops the master with one line naming the variable."""

from core.db import migrate
from core.logging import dict_config
from core.settings import settings_or_exit

_settings = settings_or_exit()

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.web_concurrency
# Threads: a long stream occupies one thread, not a whole worker, and the worker's heartbeat
# runs on its own thread, so the timeout below never kills a stream in progress.
worker_class = "gthread"
threads = _settings.web_threads
timeout = _settings.web_timeout_s
graceful_timeout = 30
keepalive = 5
accesslog = None
logconfig_dict = dict_config(_settings.log_format, _settings.log_level)


def on_starting(server: object) -> None:
    """Bring the schema up to date once, in the master, before any worker serves."""
    migrate(_settings.database_url)
