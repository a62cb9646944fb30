"""Reading Prometheus text in tests: samples by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset[tuple[str, str]]]


def samples(text: str) -> dict[Key, float]:
    """Every sample of a scrape, keyed by sample name and its label set."""
    found: dict[Key, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample `name{labels}` of a scrape, or None when it is absent."""
    return samples(text).get((name, frozenset(labels.items())))


def series(text: str, name: str) -> set[frozenset[tuple[str, str]]]:
    """The label sets of every sample called `name`."""
    return {labels for sample, labels in samples(text) if sample == name}


def names(text: str) -> set[str]:
    """Every sample name of a scrape."""
    return {name for name, _ in samples(text)}
