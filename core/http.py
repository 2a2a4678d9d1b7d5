"""HTTP header values every app reads the same way."""


def media_type_of(content_type: str) -> str:
    """The media type of a Content-Type value, lower case, without its parameters."""
    # On the intake's path for every request: one split, no parsing of the parameters.
    return content_type.split(";")[0].strip().lower()
