"""The admin site's named URLs, for the tests that try every one of them."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver


def admin_url_names() -> set[str]:
    """The name of every URL the admin site serves (its own pages and each ModelAdmin's)."""
    names: set[str] = set()

    def collect(patterns) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                collect(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(pattern.name)

    collect(admin.site.get_urls())
    return names
