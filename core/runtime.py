"""What a web process does once its app is loaded, before it serves requests."""

import gc

from django.urls import get_resolver


def loaded_app_frozen() -> None:
    """Loads the URLconf (and the admin it registers) now, then moves every object alive (the
    loaded app: modules, models, URLs) out of the cyclic garbage collector's reach (gc.freeze).

    A full collection otherwise walks all of them whenever a request's garbage triggers one:
    rendering a list of a hundred documents did every few pages, adding about 100 ms to one
    page in ten (docs/performance.md)."""
    get_resolver().url_patterns  # noqa: B018 (imported for its side effect: loaded before the freeze)
    gc.collect()
    gc.freeze()
