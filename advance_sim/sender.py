"""The simulated Advance's webhook sender for the HMAC method, which Advance's help describes as
"an HMAC code, provided by Advance; this is sent in the request form data (named "token")".

What the code is computed over is not documented, so the sender offers each plausible scheme:
over the body without the `token` field, over the value of a form field holding the event as
JSON, or the secret itself as a shared value. The event goes as form fields (`data[workItemId]`,
`data[documents][0][id]`, ...) or as one field holding its JSON, url-encoded or multipart.
Independent of the app's code on purpose: the app must verify what this computes.
"""

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import requests

SCHEMES = ("body-without-token", "json-field", "shared-value")


def event_fields(payload: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """An event as form fields: nested keys in brackets, list items by index."""
    fields: list[tuple[str, str]] = []
    items = payload.items() if isinstance(payload, Mapping) else enumerate(payload)
    for key, value in items:
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping | list):
            fields.extend(event_fields(value, name))
        elif value is not None:
            fields.append((name, str(value)))
    return fields


def form_encode(fields: list[tuple[str, str]], *, multipart: bool, boundary: str) -> tuple[bytes, str]:
    """(body, content type) of the fields, url-encoded or as multipart/form-data."""
    if not multipart:
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    body = b""
    for name, value in fields:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{quote(name, safe="[]")}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def hmac_code(secret: str, material: bytes, *, algorithm: str = "sha256", encoding: str = "base64") -> str:
    digest = hmac.new(secret.encode(), material, getattr(hashlib, algorithm)).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def form_webhook_build(
    payload: Mapping[str, Any],
    *,
    secret: str,
    scheme: str = "body-without-token",
    multipart: bool = False,
    json_field: str | None = None,
    algorithm: str = "sha256",
    encoding: str = "base64",
) -> tuple[bytes, str]:
    """(body, content type) of an event sent as a form with its code in the `token` field."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; one of {', '.join(SCHEMES)}")
    boundary = "----AdvanceSim" + secrets.token_hex(8)
    value = json.dumps(payload)
    fields = [(json_field, value)] if json_field else event_fields(payload)
    if scheme == "shared-value":
        code = secret
    elif scheme == "json-field":
        if not json_field:
            raise ValueError("the json-field scheme needs json_field")
        code = hmac_code(secret, value.encode(), algorithm=algorithm, encoding=encoding)
    else:
        unsigned, _ = form_encode(fields, multipart=multipart, boundary=boundary)
        code = hmac_code(secret, unsigned, algorithm=algorithm, encoding=encoding)
    # The code goes last: removing its field gives back exactly the bytes it was computed over.
    return form_encode([*fields, ("token", code)], multipart=multipart, boundary=boundary)


def send_form_webhook(
    url: str, payload: Mapping[str, Any], *, secret: str, timeout: float = 10, **build: Any
) -> requests.Response:
    """POST an event as a form signed by one of SCHEMES (see form_webhook_build)."""
    body, content_type = form_webhook_build(payload, secret=secret, **build)
    return requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=timeout)


def registration_url(base_url: str, slug: str, event_type: str, event_name: str = "") -> str:
    """The URL of one webhook registration: /webhooks/advance/<slug>/<EventType>/[<eventName>/]."""
    url = f"{base_url.rstrip('/')}/webhooks/advance/{slug}/{event_type}/"
    return url + f"{quote(event_name, safe='')}/" if event_name else url


def without_event_names(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The event as a per-URL registration may send it: no eventType or eventName."""
    return {key: value for key, value in payload.items() if key not in ("eventType", "eventName")}
