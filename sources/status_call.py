"""Which path the post-processing status call may take: never one that completes a version.

`PUT .../WorkItems/{id}/Versions/{versionId}/Complete` is Advance's "Completing a Work Item
Version" (v1.x: `.../Versions/active/CompleteSession`, "Completing an assembly session"): it
assembles the documents again and makes a new version, whose PostProcessingEvent would make the
call again, without end. A server may read a path more loosely than it is written, so the path is
read as loosely as any server might before its last segment is compared.
"""

import posixpath
import re
import unicodedata
from urllib.parse import unquote

COMPLETING_SEGMENTS = {"complete", "completesession"}
# Where a segment ends for some server: a query, a fragment, matrix parameters (Tomcat, Jetty).
_SEGMENT_END = re.compile(r"[?#;]")
# Trimmed from a segment's ends by some server (IIS drops trailing dots and spaces; NULs end C strings).
_TRIMMED = "".join(chr(code) for code in range(33)) + ".\x7f"

COMPLETING_REFUSAL = (
    "refused as the post-processing status call: a path ending in /Complete or /CompleteSession is Advance's "
    "'Completing a Work Item Version', which starts an assembly (a new version, and a new PostProcessingEvent "
    "that would call it again). Enter the call that sets the post-assembly processing status."
)


def _decoded(text: str) -> str:
    """text percent-decoded until nothing changes (a server, or a proxy before it, may decode twice)."""
    for _ in range(10):
        decoded = unquote(text, errors="surrogateescape")
        if decoded == text:
            return text
        text = decoded
    return text


def _last_segment(path: str) -> str:
    """The last non-empty segment of path, as loosely as any server might read it."""
    path = _SEGMENT_END.split(path, maxsplit=1)[0]
    path = _decoded(path).replace("\\", "/")
    segments = [_SEGMENT_END.split(segment, maxsplit=1)[0] for segment in path.split("/")]
    path = posixpath.normpath("/" + "/".join(segments))  # dot segments resolved, slashes collapsed
    readings = [unicodedata.normalize("NFKC", segment).strip(_TRIMMED).casefold() for segment in path.split("/")]
    return next((segment for segment in reversed(readings) if segment), "")


def status_path_refusal(path: str) -> str | None:
    """Why path may not be the post-processing status call (it completes the version); None when it may."""
    if _last_segment(path) in COMPLETING_SEGMENTS:
        return COMPLETING_REFUSAL
    return None
