"""The one reader of the environment: settings, config/gunicorn.py and the embedded run read through it."""

import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name)
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    return _number(name, value, int) if value else default


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    return _number(name, value, float) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def _number(name: str, value: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(value)
    except ValueError:
        # Named, or the operator reads only "invalid literal for int()" with no hint which variable.
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}.") from None
