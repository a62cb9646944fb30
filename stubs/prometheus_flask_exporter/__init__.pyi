from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from prometheus_client import CollectorRegistry

_F = TypeVar("_F", bound=Callable[..., Any])
# A label: a value, a callable of no arguments, or a callable of the response.
_Label = str | Callable[[], str] | Callable[[Any], str]

class PrometheusMetrics:
    registry: CollectorRegistry
    def __init__(
        self,
        app: Flask | None,
        path: str | None = ...,
        export_defaults: bool = ...,
        defaults_prefix: str = ...,
        group_by: str = ...,
        buckets: tuple[float, ...] | None = ...,
        default_latency_as_histogram: bool = ...,
        default_labels: dict[str, _Label] | None = ...,
        response_converter: Callable[[Any], Any] | None = ...,
        excluded_paths: str | list[str] | None = ...,
        exclude_user_defaults: bool = ...,
        metrics_decorator: Callable[[_F], _F] | None = ...,
        registry: CollectorRegistry | None = ...,
        **kwargs: Any,
    ) -> None: ...
    def register_default(
        self, *metric_wrappers: Callable[[Callable[..., Any]], Callable[..., Any]], app: Flask
    ) -> None: ...
    def histogram(
        self,
        name: str,
        description: str,
        labels: dict[str, _Label] | None = ...,
        initial_value_when_only_static_labels: bool = ...,
        **kwargs: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...
    def counter(
        self,
        name: str,
        description: str,
        labels: dict[str, _Label] | None = ...,
        initial_value_when_only_static_labels: bool = ...,
        **kwargs: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...

def __getattr__(name: str) -> Any: ...
