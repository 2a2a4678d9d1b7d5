"""Hypothesis settings for the property-based tests: bounded, so that `make test` stays quick.

HYPOTHESIS_PROFILE=thorough runs many more examples, for a longer hunt by hand.
"""

import os

from hypothesis import HealthCheck, settings

# deadline=None: a request through Django and PostgreSQL now and then takes longer than
# Hypothesis's 200 ms default, which is no bug. No example database: it would write into the repo.
# Function-scoped fixtures (the database, the sources) are shared by the examples of one test on
# purpose: each example asserts on what its own request added.
_COMMON = dict(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("advance-sync", max_examples=200, **_COMMON)
settings.register_profile("thorough", max_examples=5000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "advance-sync"))
