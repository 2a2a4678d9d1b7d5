"""Prometheus primitives every app counts with, and the text `/metrics` serves.

Counters and histograms live in each app's `metrics.py` and are incremented where things happen.
Several processes count at once (gunicorn's workers, Celery's pool), so with
PROMETHEUS_MULTIPROC_DIR set, prometheus_client keeps each process's values in files in that
directory and `metrics_text` adds them up: every scrape sees the whole, whichever worker answers
it. The directory must be set before prometheus_client is first imported (scripts/run.py and
config/gunicorn.py do it; Docker sets it in the image).

Gauges read from the database at scrape time (backlogs) need no cross-process bookkeeping: an app
registers a function that yields them (`database_gauges_register`, from its AppConfig.ready()).

Access: with METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` is let in; with
METRICS_ALLOWED_NETWORKS set, only requests straight from those networks (no proxy's forwarding
headers); with both, both. With neither (the embedded run; production refuses it), only requests
straight from a loopback or private address.
"""

import hmac
import ipaddress
import logging
import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.http import HttpRequest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

PREFIX = "advance_sync"
HOSTNAME = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def process_identifier(pid: int | None = None) -> str:
    """Names a process's metric files: host and pid, so that containers sharing one directory
    (web and worker, each with its own pid 1, 2, ...) never write to the same file."""
    if pid is None:
        return _own_identifier[0]
    return f"{HOSTNAME}-{pid}"


# prometheus_client asks for this process's identifier at every increment, to notice a fork:
# os.getpid() is a system call each time (glibc no longer caches it), about 20 µs per webhook call
# under load (its four increments). A fork (gunicorn's, Celery's) renews it in the child instead.
_own_identifier = [f"{HOSTNAME}-{os.getpid()}"]


def _own_identifier_renew() -> None:
    _own_identifier[0] = f"{HOSTNAME}-{os.getpid()}"


os.register_at_fork(after_in_child=_own_identifier_renew)


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before the first metric is made: every value is created through this class.
    prometheus_values.ValueClass = prometheus_values.MultiProcessValue(process_identifier=process_identifier)


# Gauges read from the database at scrape time ------------------------------------------------

DatabaseGauges = Callable[[], Iterable[GaugeMetricFamily]]
_database_gauges: list[DatabaseGauges] = []


def database_gauges_register(gauges: DatabaseGauges) -> None:
    """Adds a function whose gauges every scrape reads from the database; it may raise when the
    database does not answer."""
    if gauges not in _database_gauges:
        _database_gauges.append(gauges)


class DatabaseCollector:
    """Every registered app's database gauges, and `database_up`: 1 when all of them could be read."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 when the backlog gauges could be read from the database.")
        try:
            families = [family for gauges in _database_gauges for family in gauges()]
        except Exception as error:  # a scrape must still answer when the database does not
            logger.warning("metrics: the backlog could not be read: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


class _Collectors:
    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def metrics_text() -> bytes:
    """Every metric in Prometheus' text format: all processes' counters plus the database gauges."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(_Collectors(registry, DatabaseCollector()))
    return generate_latest(_Collectors(REGISTRY, DatabaseCollector()))


# Who may read them -------------------------------------------------------------------------

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def metrics_access(request: HttpRequest) -> int | None:
    """None when the request may read the metrics, else the status to refuse it with (401 or 403)."""
    token = settings.METRICS_TOKEN
    networks = settings.METRICS_ALLOWED_NETWORKS
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if not (scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())):
            return 401
        if not networks:
            return None
    # Through a proxy, REMOTE_ADDR is the proxy's (often private) address: anyone could be behind it.
    if any(request.META.get(header) for header in FORWARDING_HEADERS):
        return 403
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return 403
    if address.version == 6 and address.ipv4_mapped:  # a dual-stack socket's IPv4 client
        address = address.ipv4_mapped
    if networks:
        return None if any(address in network for network in networks) else 403
    return None if (address.is_loopback or address.is_private) else 403
