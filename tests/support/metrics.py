"""Prometheus text read back as samples, for the tests of /metrics and of what moves it."""

from prometheus_client.parser import text_string_to_metric_families


def metric_samples(text: str) -> dict[tuple, float]:
    """Prometheus text as {(sample name, ((label, value), ...)): value}."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric(samples: dict[tuple, float], name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
