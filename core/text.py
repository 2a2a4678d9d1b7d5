"""Text from outside, made storable."""


def text_storable(value: object, max_length: int) -> str:
    """A string PostgreSQL can store: NUL characters removed, lone surrogates replaced, cut to length.

    Request data goes into text columns and jsonb; either refuses NUL, and psycopg cannot encode a
    lone surrogate. A database error there would turn what a sender put in a request into a 5xx.
    """
    text = value if isinstance(value, str) else str(value)
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "")[:max_length]
