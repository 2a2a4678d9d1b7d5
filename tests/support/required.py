"""A service `make test` provides and a test needs: missing, it is an error, never a skip.

A skip would let a suite pass that never ran what it claims to have checked (`make test` starts
PostgreSQL, Redis and the S3 server, and installs chromium and docker-compose)."""

from typing import NoReturn

import pytest


def service_missing(what: str) -> NoReturn:
    """Fail the test at once, naming what is missing and how to get it."""
    pytest.fail(f"{what} is missing: run the suite with `make test`, which provides it", pytrace=False)
