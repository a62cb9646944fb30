from typing import Any

from flask import Flask
from prometheus_flask_exporter import PrometheusMetrics

class MultiprocessPrometheusMetrics(PrometheusMetrics):
    def __init__(self, app: Flask | None = ..., **kwargs: Any) -> None: ...

class GunicornPrometheusMetrics(MultiprocessPrometheusMetrics):
    @classmethod
    def mark_process_dead_on_child_exit(cls, pid: int) -> None: ...

class GunicornInternalPrometheusMetrics(GunicornPrometheusMetrics):
    def __init__(self, app: Flask | None = ..., path: str | None = ..., **kwargs: Any) -> None: ...

def __getattr__(name: str) -> Any: ...
