"""Secrets at rest: Fernet with the keys of FIELD_ENCRYPTION_KEYS (the first encrypts, all decrypt)."""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def _reset(*, setting: str, **kwargs) -> None:
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernet.cache_clear()


setting_changed.connect(_reset)


def secret_encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(ciphertext: str) -> str:
    """Return the plaintext; raise ValueError when no configured key opens it."""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as error:
        raise ValueError("no key in FIELD_ENCRYPTION_KEYS decrypts this secret") from error


def secret_rotate(ciphertext: str) -> str:
    """Re-encrypt with the first key, so older keys can be retired; raise ValueError when no
    configured key opens the secret."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken as error:
        raise ValueError("no key in FIELD_ENCRYPTION_KEYS decrypts this secret") from error
