"""Verifying HMAC codes on webhook calls: pure functions, no database, no request objects.

Advance does not document its HMAC, so the verifier is configurable: the algorithm, how the code
is encoded, what material is signed, where the code travels and an optional prefix. Two presets
follow published schemes exactly: Standard Webhooks (https://www.standardwebhooks.com) and GitHub
(`X-Hub-Signature-256`). Codes are decoded to bytes and compared with hmac.compare_digest, so
hex case, base64 flavour and padding do not matter and the comparison takes constant time.
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .inbound import InboundCall
from .redaction import header_key

ALGORITHMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "sha512": hashlib.sha512}
STANDARD_WEBHOOKS_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
FORM_FIELD = "token"
MAX_CODE_LENGTH = 4096  # a code longer than any digest's encoding, many times over, is refused unread

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+=*")


class SignatureError(Exception):
    """The call does not carry a valid code; the message says why (never the code itself)."""


class SignatureReplayed(SignatureError):
    """A valid timestamped signature seen already within the tolerance."""


@dataclass(frozen=True)
class HmacConfig:
    algorithm: str = "sha256"
    encoding: str = "base64"  # "base64" | "hex"
    # "body" | "body-without-token" | "json-field" | "shared-value" | "timestamp.body"
    # | "standard-webhooks" | "github"
    signed_material: str = "body"
    code_location: str = "form"  # "form" | "authorization" | "header"
    header_name: str = ""
    prefix: str = ""
    timestamp_header: str = "webhook-timestamp"
    tolerance_seconds: int = 300


@dataclass(frozen=True)
class SignedRequest:
    """What of a request the verifier reads. Headers are keyed as in a WSGI environ (HTTP_X_NAME)."""

    raw_body: bytes
    meta: Mapping[str, str]
    code: str | None  # the `token` form field's (or query parameter's) value
    # The body without its `token` form field, and the value of the form field holding the event
    # as JSON (None when no field does).
    body_without_token: bytes | None = None
    json_field: bytes | None = None

    @classmethod
    def of(cls, call: InboundCall) -> "SignedRequest":
        """What the verifier reads of a call: every part derived from the one reading of it, so
        what is verified is exactly what is stored and processed."""
        event_field = call.form.event_field if call.form is not None else None
        return cls(
            raw_body=call.raw_body,
            meta=call.meta,
            code=call.code,
            body_without_token=call.body_without_code,
            json_field=event_field[1].encode() if event_field is not None else None,
        )


# Schemes where the same request always carries the same code: whoever sees one call can repeat
# it, and a GET (empty body) carries one fixed code, a password in effect.
STATIC_CODE_MATERIALS = ("body", "body-without-token", "json-field", "shared-value", "github")
# Schemes with a signed timestamp: a code seen once is refused again within the tolerance.
TIMESTAMPED_MATERIALS = ("timestamp.body", "standard-webhooks")


def hmac_code_is_static(signed_material: str) -> bool:
    """True when a request's code does not change with time (no signed timestamp)."""
    return signed_material in STATIC_CODE_MATERIALS


@dataclass(frozen=True)
class SignatureMatch:
    """A verified code. For timestamped schemes, a key that names the signed material (never the
    code) and until when a replay of it would be inside the tolerance (Unix time); else empty."""

    replay_key: str = ""
    replay_until: float = 0


def secret_key_bytes(secret: str, *, standard_webhooks: bool = False) -> bytes:
    """The HMAC key a secret stands for. A Standard Webhooks secret is base64, `whsec_` prefixed
    or not, and is decoded as the spec and its reference libraries do; so is any `whsec_` secret.
    Any other secret is used as its UTF-8 bytes. Raises ValueError for a secret that is no key."""
    has_prefix = secret.startswith(STANDARD_WEBHOOKS_SECRET_PREFIX)
    if has_prefix or standard_webhooks:
        encoded = secret[len(STANDARD_WEBHOOKS_SECRET_PREFIX) :] if has_prefix else secret
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not key:
            raise ValueError("a Standard Webhooks (whsec_) secret must be base64 after its prefix")
        return key
    if not secret:
        raise ValueError("the secret is empty")
    return secret.encode()


def secret_check(secret: str, *, config: HmacConfig | None = None) -> None:
    """Raise ValueError for a secret that cannot be used (with that configuration)."""
    if not secret or secret != secret.strip():
        raise ValueError("the secret is empty or has leading or trailing spaces")
    secret_key_bytes(secret, standard_webhooks=config is not None and config.signed_material == "standard-webhooks")


def _header(meta: Mapping[str, str], name: str) -> str:
    value = meta.get(header_key(name), "")
    return value.strip() if isinstance(value, str) else ""


def _code_decode(code: str, encoding: str) -> bytes | None:
    """The digest bytes a code spells, or None when it spells none."""
    code = code.strip()
    if not code or len(code) > MAX_CODE_LENGTH:
        return None
    try:
        if encoding == "hex":
            return bytes.fromhex(code)
        if not _BASE64.fullmatch(code):
            return None
        # Standard or URL-safe alphabet, with or without padding.
        unpadded = code.rstrip("=").replace("-", "+").replace("_", "/")
        return base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _strip_prefix(code: str, prefix: str) -> str:
    if prefix and code[: len(prefix)].lower() == prefix.lower():
        return code[len(prefix) :]
    return code


def _timestamp_check(value: str, *, now: float, tolerance: int) -> None:
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise SignatureError("missing or malformed timestamp")
    if abs(now - int(value)) > tolerance:
        raise SignatureError("timestamp outside the tolerance")


def _mac(key: bytes, material: bytes, algorithm: str) -> bytes:
    return hmac.new(key, material, ALGORITHMS[algorithm]).digest()


def _any_matches(candidates: Sequence[bytes | None], keys: Sequence[bytes], material: bytes, algorithm: str) -> bool:
    expected = [_mac(key, material, algorithm) for key in keys]
    matched = False
    # Every pair is compared (no early exit), so which secret matched does not show in the timing.
    for candidate in candidates:
        if candidate is None:
            continue
        for digest in expected:
            matched |= hmac.compare_digest(candidate, digest)
    return matched


def _replay(material: bytes, timestamp: str, tolerance: int) -> SignatureMatch:
    return SignatureMatch(replay_key=hashlib.sha256(material).hexdigest(), replay_until=int(timestamp) + tolerance)


def _shared_value_matches(code: str, secrets: Sequence[str]) -> bool:
    # Digests of equal length, compared without early exit: neither the length nor which secret shows.
    offered = hashlib.sha256(code.encode()).digest()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(offered, hashlib.sha256(secret.encode()).digest())
    return matched


def signature_verify(
    *, config: HmacConfig, secrets: Sequence[str], request: SignedRequest, now: float
) -> SignatureMatch:
    """Return when the request carries a code made with one of the secrets; raise SignatureError otherwise."""
    keys = _hmac_keys(config, secrets)
    if config.signed_material == "standard-webhooks":
        return _standard_webhooks_verify(config, keys, request, now)
    if config.signed_material == "github":
        return _github_verify(keys, request)
    code = _configured_code(config, request)
    if config.signed_material == "shared-value":
        if len(code) > MAX_CODE_LENGTH or not _shared_value_matches(code, secrets):
            raise SignatureError("the code is not the shared value")
        return SignatureMatch()
    timestamp = ""
    if config.signed_material == "timestamp.body":
        timestamp = _header(request.meta, config.timestamp_header)
        _timestamp_check(timestamp, now=now, tolerance=config.tolerance_seconds)
    material = _signed_material(config, request, timestamp)
    if not _any_matches([_code_decode(code, config.encoding)], keys, material, config.algorithm):
        raise SignatureError("the HMAC code does not match")
    return _replay(material, timestamp, config.tolerance_seconds) if timestamp else SignatureMatch()


def _hmac_keys(config: HmacConfig, secrets: Sequence[str]) -> list[bytes]:
    """The HMAC keys the secrets stand for; SignatureError when there are none or one is unusable."""
    if not secrets:
        raise SignatureError("no HMAC secret configured")
    standard = config.signed_material == "standard-webhooks"
    try:
        keys = [secret_key_bytes(secret, standard_webhooks=standard) for secret in secrets]
    except ValueError as error:
        raise SignatureError(f"unusable HMAC secret: {error}") from None
    if not keys:
        raise SignatureError("no HMAC secret configured")
    return keys


def _standard_webhooks_verify(
    config: HmacConfig, keys: Sequence[bytes], request: SignedRequest, now: float
) -> SignatureMatch:
    message_id = _header(request.meta, "webhook-id")
    timestamp = _header(request.meta, "webhook-timestamp")
    signatures = _header(request.meta, "webhook-signature")
    if not message_id or not signatures:
        raise SignatureError("missing webhook-id or webhook-signature header")
    _timestamp_check(timestamp, now=now, tolerance=config.tolerance_seconds)
    # "v1,<base64>" entries separated by spaces; other versions (v1a: asymmetric) are skipped.
    candidates = [_code_decode(entry[3:], "base64") for entry in signatures.split()[:16] if entry.startswith("v1,")]
    material = f"{message_id}.{timestamp}.".encode() + request.raw_body
    if not _any_matches(candidates, keys, material, "sha256"):
        raise SignatureError("no webhook-signature matches")
    return _replay(material, timestamp, config.tolerance_seconds)


def _github_verify(keys: Sequence[bytes], request: SignedRequest) -> SignatureMatch:
    code = _header(request.meta, "X-Hub-Signature-256")
    if not code.startswith("sha256="):
        raise SignatureError("missing X-Hub-Signature-256 header")
    if not _any_matches([_code_decode(code[7:], "hex")], keys, request.raw_body, "sha256"):
        raise SignatureError("X-Hub-Signature-256 does not match")
    return SignatureMatch()


def _configured_code(config: HmacConfig, request: SignedRequest) -> str:
    """The code where the configuration says it travels, its prefix removed; SignatureError when none."""
    code = _strip_prefix(_location_code(request, config.code_location, config.header_name), config.prefix)
    if config.code_location == "authorization":
        # "Scheme code" (e.g. "HMAC <code>"): the code is the last word.
        code = code.rsplit(None, 1)[-1] if code.strip() else ""
    if not code:
        raise SignatureError("no HMAC code in the request")
    return code


def _signed_material(config: HmacConfig, request: SignedRequest, timestamp: str) -> bytes:
    """What the configuration says is signed (the timestamp checked already, for timestamp.body)."""
    if config.signed_material == "timestamp.body":
        return timestamp.encode() + b"." + request.raw_body
    if config.signed_material == "body-without-token":
        return request.raw_body if request.body_without_token is None else request.body_without_token
    if config.signed_material == "json-field":
        if request.json_field is None:
            raise SignatureError("no form field holds the event as JSON")
        return request.json_field
    return request.raw_body


def signature_make(
    *, config: HmacConfig, secret: str, raw_body: bytes, timestamp: int = 0, message_id: str = ""
) -> str:
    """The code a sender configured like this would send (for tests and for checking a configuration)."""
    key = secret_key_bytes(secret, standard_webhooks=config.signed_material == "standard-webhooks")
    if config.signed_material == "standard-webhooks":
        digest = _mac(key, f"{message_id}.{timestamp}.".encode() + raw_body, "sha256")
        return "v1," + base64.b64encode(digest).decode()
    if config.signed_material == "github":
        return "sha256=" + _mac(key, raw_body, "sha256").hex()
    if config.signed_material == "shared-value":
        return config.prefix + secret
    # body-without-token and json-field: raw_body is that material (the body without the token
    # field, the JSON field's value).
    material = f"{timestamp}.".encode() + raw_body if config.signed_material == "timestamp.body" else raw_body
    digest = _mac(key, material, config.algorithm)
    encoded = digest.hex() if config.encoding == "hex" else base64.b64encode(digest).decode()
    return config.prefix + encoded


# What a scheme is made of, for showing and adopting one (the Source fields are hmac_<name>).
SCHEME_FIELDS = ("signed_material", "algorithm", "encoding", "code_location", "header_name", "prefix")
_CODE_PREFIX = re.compile(r"^([A-Za-z0-9-]{1,16}[=,])")
DIGEST_SIZES = (20, 32, 64)  # sha1, sha256, sha512


def _location_code(request: SignedRequest, location: str, header_name: str) -> str:
    """The text where a code travels: the `token` field, the Authorization header or a header."""
    if location == "form":
        return (request.code or "").strip()
    return _header(request.meta, "Authorization" if location == "authorization" else header_name)


def _offered_codes(request: SignedRequest, location: str, header_name: str) -> list[str]:
    """What a scheme search tries as the code at one place: the text there, and for Authorization
    its last word too (`HMAC <code>`, `Bearer <code>`), as _configured_code reads it."""
    text = _location_code(request, location, header_name)
    codes = [text]
    if location == "authorization" and len(text.split()) > 1:
        codes.append(text.rsplit(None, 1)[-1])
    return [code for code in codes if code and len(code) <= MAX_CODE_LENGTH]


def schemes_matching(
    *, base: HmacConfig, secrets: Sequence[str], request: SignedRequest, now: float, header_names: Sequence[str]
) -> list[HmacConfig]:
    """The supported schemes under which the request carries a code made with one of the secrets:
    what an operator may adopt when the configured one refused a call. The code is looked for in
    the form field, Authorization and each header named; timestamps are judged as of `now`."""
    candidates = [replace(base, signed_material="standard-webhooks"), replace(base, signed_material="github")]
    locations = [("form", ""), ("authorization", ""), *(("header", name) for name in header_names)]
    timestamped = bool(_header(request.meta, base.timestamp_header))
    materials = ["body", "body-without-token", "json-field", *(["timestamp.body"] if timestamped else [])]
    for location, header in locations:
        for code in _offered_codes(request, location, header):
            candidates.extend(_candidates_for(base, code, location, header, materials))
    matching: dict[tuple, HmacConfig] = {}
    for candidate in candidates:
        try:
            signature_verify(config=candidate, secrets=secrets, request=request, now=now)
        except SignatureError:
            continue
        matching.setdefault(tuple(getattr(candidate, name) for name in SCHEME_FIELDS), candidate)
    return list(matching.values())


def _candidates_for(base: HmacConfig, code: str, location: str, header: str, materials: list[str]) -> list[HmacConfig]:
    """The schemes worth trying for a code found at one place: a shared value, and where the code
    spells a digest, every material, algorithm and encoding, with each prefix it may carry."""
    candidates = []
    detected = _CODE_PREFIX.match(code)
    prefixes = dict.fromkeys([base.prefix, "", detected.group(1) if detected else ""])
    where = dict(code_location=location, header_name=header)
    for prefix in prefixes:
        candidates.append(replace(base, signed_material="shared-value", prefix=prefix, **where))
        unprefixed = _strip_prefix(code, prefix)
        if not any(len(_code_decode(unprefixed, enc) or b"") in DIGEST_SIZES for enc in ("hex", "base64")):
            continue  # no digest spelled there: only a shared value could match (bounds the work)
        for material in materials:
            for algorithm in ALGORITHMS:
                for encoding in ("base64", "hex"):
                    candidates.append(
                        replace(
                            base,
                            signed_material=material,
                            algorithm=algorithm,
                            encoding=encoding,
                            prefix=prefix,
                            **where,
                        )
                    )
    return candidates


def scheme_describe(config: HmacConfig) -> str:
    """One line naming a scheme, as an operator reads it."""
    material = config.signed_material
    if material in ("standard-webhooks", "github"):
        return {"standard-webhooks": "Standard Webhooks", "github": "GitHub (X-Hub-Signature-256)"}[material]
    where = {"form": "the token field", "authorization": "Authorization"}.get(
        config.code_location, f"header {config.header_name}"
    )
    prefix = f", prefix {config.prefix!r}" if config.prefix else ""
    if material == "shared-value":
        return f"the secret itself as a shared value, in {where}{prefix}"
    return f"HMAC-{config.algorithm.upper()} of {material}, {config.encoding}, in {where}{prefix}"
