"""Worker and beat that log their start-up as one log line instead of printing a banner.

With LOG_FORMAT=json every line a process writes must be a JSON object; Celery prints ASCII-art
banners and shutdown notes straight to the terminal, so in JSON mode those go through logging.
"""

from __future__ import annotations

import logging
from typing import Any

import celery.apps.worker
from celery.apps.beat import Beat
from celery.apps.worker import Worker

from core.base.settings import get_settings

log = logging.getLogger("aula.process")


def _json_logs() -> bool:
    # The settings tasks/app.py read at start (get_settings is cached): read here rather than
    # through tasks.app, which imports this module for its Worker and Beat.
    return get_settings().log_format == "json"


def _say(msg: str, f: Any = None) -> None:
    log.warning(msg.strip())


class QuietWorker(Worker):
    hostname: str  # set by Celery's WorkController (not in celery-types' stub)
    concurrency: int

    def on_before_init(self, quiet: bool = False, **kwargs: Any) -> None:
        if _json_logs():
            quiet = True
            vars(celery.apps.worker)["safe_say"] = _say  # celery-types omits safe_say
        super().on_before_init(quiet=quiet, **kwargs)

    def on_start(self) -> None:
        super().on_start()
        log.info(
            "worker starting",
            extra={
                "hostname": self.hostname,
                "concurrency": self.concurrency,
                "queues": sorted(self.app.amqp.queues.keys()),
            },
        )


class QuietBeat(Beat):
    schedule: str  # the schedule file, set by Beat.__init__ (not in celery-types' stub)

    def __init__(self, *args: Any, quiet: bool = False, **kwargs: Any) -> None:
        kwargs["quiet"] = quiet or _json_logs()
        super().__init__(*args, **kwargs)

    def run(self) -> None:
        # The schedule file lives in DATA_DIR, which must exist before the scheduler opens it.
        get_settings().data_dir.mkdir(parents=True, exist_ok=True)
        log.info("beat starting", extra={"schedule": self.schedule})
        super().run()
