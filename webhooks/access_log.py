"""gunicorn's access log without credentials: `logger_class` in config/gunicorn.py.

Advance's HMAC sends its code as `token` (a form field, or the query string of an interview GET,
where the code of an empty body never changes): the request line of a default access log would
keep it. This logger writes every atom as gunicorn does, with `token` query parameters removed
from the request line, the query string and the referrer, and credential headers blanked.
"""

from gunicorn.glogging import Logger

from .inbound import query_redact
from .redaction import CREDENTIAL_HEADER_NAMES

REDACTED = "[redacted]"


def uri_redact(uri: str) -> str:
    """A URI or path with its query's `token` parameters removed (the rest as sent)."""
    if not uri or "?" not in uri:
        return uri
    path, _, query = uri.partition("?")
    query = query_redact(query)
    return f"{path}?{query}" if query else path


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["r"] = "%s %s %s" % (  # noqa: UP031 - gunicorn's own format of the request line
            environ["REQUEST_METHOD"],
            uri_redact(environ.get("RAW_URI", "")),
            environ["SERVER_PROTOCOL"],
        )
        atoms["q"] = query_redact(environ.get("QUERY_STRING") or "")
        atoms["f"] = uri_redact(environ.get("HTTP_REFERER", "-"))
        for name in CREDENTIAL_HEADER_NAMES:
            if "{%s}i" % name in atoms:  # noqa: UP031
                atoms["{%s}i" % name] = REDACTED  # noqa: UP031
        return atoms
