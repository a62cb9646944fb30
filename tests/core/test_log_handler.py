"""Issue 29: Aula's log handler (core.base.logging.LineHandler) formats a record before it takes
the handler's lock, so only the write of a finished line is serialised between threads; lines
stay whole and every one is written."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import threading
from collections.abc import Iterator

import pytest

from core.base.logging import LineHandler, dict_config


@pytest.fixture
def handler() -> Iterator[tuple[LineHandler, io.StringIO]]:
    """The handler dict_config installs, writing to a StringIO; root restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    config = dict_config("json", "INFO")
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    (installed,) = root.handlers
    assert isinstance(installed, LineHandler)
    yield installed, stream
    root.handlers[:] = handlers
    root.setLevel(level)


def test_lines_from_many_threads_are_whole(handler: tuple[LineHandler, io.StringIO]) -> None:
    _, stream = handler
    log = logging.getLogger("aula.request")

    def burst(thread: int) -> None:
        for number in range(200):
            log.info("line %s", number, extra={"writer": thread, "number": number})

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 8 * 200
    for thread in range(8):  # each thread's lines whole, in its own order
        numbers = [line["number"] for line in lines if line["writer"] == thread]
        assert numbers == list(range(200))


def test_a_record_is_formatted_before_the_lock(handler: tuple[LineHandler, io.StringIO]) -> None:
    installed, stream = handler
    formatted = threading.Event()
    plain_format = installed.format

    def noting_format(record: logging.LogRecord) -> str:
        formatted.set()
        return plain_format(record)

    installed.format = noting_format  # type: ignore[method-assign]
    writer = threading.Thread(target=logging.getLogger("aula").warning, args=("held",))
    with installed.lock:  # type: ignore[union-attr]
        writer.start()
        # Another thread holds the lock: the line is formatted all the same, not yet written.
        assert formatted.wait(timeout=10)
        assert stream.getvalue() == ""
    writer.join(timeout=10)
    assert json.loads(stream.getvalue())["message"] == "held"


def test_a_failing_format_is_reported_not_raised(
    handler: tuple[LineHandler, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    installed, stream = handler
    reported: list[logging.LogRecord] = []
    monkeypatch.setattr(installed, "handleError", reported.append)
    working = installed.formatter
    monkeypatch.setattr(installed, "formatter", logging.Formatter("%(no_such_field)s"))
    logging.getLogger("aula").warning("lost")
    assert stream.getvalue() == ""
    assert [record.msg for record in reported] == ["lost"]
    monkeypatch.setattr(installed, "formatter", working)
    logging.getLogger("aula").warning("next")
    assert json.loads(stream.getvalue())["message"] == "next"
