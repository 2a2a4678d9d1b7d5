"""Readiness checks the apps add to `/readyz` (config/health.py), each a function that raises when
its dependency does not answer."""

from collections.abc import Callable

_readiness_checks: dict[str, Callable[[], None]] = {}


def readiness_check_register(name: str, check: Callable[[], None]) -> None:
    _readiness_checks[name] = check


def readiness_checks() -> dict[str, Callable[[], None]]:
    return dict(_readiness_checks)
