"""A work item's "Compare versions" page and its plain-text export: the query read once, the
versions chosen, the redline as HTML (only our <ins>, <del> and folds are markup: every text from a
document is escaped by format_html)."""

import re
from dataclasses import dataclass

from django.core.exceptions import BadRequest
from django.http import Http404, QueryDict
from django.utils.html import format_html, format_html_join

from ..compare import (
    DELETE,
    INSERT,
    Fold,
    PairComparison,
)
from ..models import WorkItemVersion

VERSION_PARAMETERS = ("a", "b")
# A version's key: ASCII digits only (str.isdigit takes "²" and "١"), and few enough for a bigint.
VERSION_KEY = re.compile(r"[0-9]{1,18}")
# Past this many parts to draw in a pair (marks, the text between them in changed paragraphs, and
# the unchanged paragraphs its folds show), its redline is not drawn: its summary and the plain-text
# export still say what changed. A page of that many is no longer read, and would cost seconds
# outside the comparison's budget (60,000 lines with a comma for a full stop, 180,000 parts: 1.1 s).
REDLINE_MAX_PARTS = 60_000
# A fold of more unchanged paragraphs than twice this shows its first and last this many.
FOLD_ENDS_SHOWN = 100


@dataclass(frozen=True)
class CompareQuery:
    """What the comparison's URL asks: the older version (a) and the newer (b) by key, None for the default."""

    old: int | None
    new: int | None


def compare_query_parse(params: QueryDict) -> CompareQuery:
    """Read ?a=<version key>&b=<version key> once: each at most once, a positive whole number of
    ASCII digits; a bad value is a 400 naming it."""
    keys: dict[str, int | None] = {}
    for name in VERSION_PARAMETERS:
        values = params.getlist(name)
        if len(values) > 1:
            raise BadRequest(f"'{name}' is given more than once.")
        value = values[0] if values else ""
        if not value:
            keys[name] = None
        elif VERSION_KEY.fullmatch(value) and int(value) > 0:
            keys[name] = int(value)
        else:
            raise BadRequest(f"'{name}' must be the key of one of the work item's versions.")
    if keys["a"] is not None and keys["a"] == keys["b"]:
        raise BadRequest("Choose two different versions.")
    return CompareQuery(old=keys["a"], new=keys["b"])


def versions_chosen(
    query: CompareQuery, versions: list[WorkItemVersion]
) -> tuple[WorkItemVersion | None, WorkItemVersion | None]:
    """The versions the query names, among the work item's (newest first); by default the newest
    against the one before it, the newer one chosen against the one before it, the older one
    chosen against the one after it. A key of another work item's version is not found (404); an
    older version chosen that is the newest is a 400 (it has nothing after it to be compared with).
    Without a version before the newer one, the older is None."""
    by_key = {version.pk: version for version in versions}
    if any(key is not None and key not in by_key for key in (query.old, query.new)):
        raise Http404("No such version of this work item.")
    if query.old is not None and query.new is None:
        old = by_key[query.old]
        newer = versions[: versions.index(old)]
        if not newer:
            raise BadRequest("The version chosen is the newest: choose a newer one ('b') to compare it with.")
        return old, newer[-1]
    new = by_key[query.new] if query.new is not None else (versions[0] if versions else None)
    if query.old is not None:
        return by_key[query.old], new
    older = versions[versions.index(new) + 1 :] if new is not None else []
    return (older[0] if older else None), new


def version_label(version: WorkItemVersion) -> str:
    when = f" ({version.completed_at:%Y-%m-%d %H:%M})" if version.completed_at else ""
    return f"{version.advance_id}{when}"


def _segment_html(segment) -> str:
    space = " " if segment.spaced else ""
    if segment.paragraph_break and segment.kind == INSERT:
        return format_html('{}<ins class="break" title="paragraph break added (split)">{}</ins>', space, segment.text)
    if segment.paragraph_break:
        return format_html(
            '{}<del class="break" title="paragraph break removed (joined)">{}</del>', space, segment.text
        )
    if segment.kind == INSERT:
        return format_html("{}<ins>{}</ins>", space, segment.text)
    if segment.kind == DELETE:
        return format_html("{}<del>{}</del>", space, segment.text)
    return format_html("{}{}", space, segment.text)


def redline_html(pair: PairComparison) -> str:
    """The pair's redline: changed paragraphs with their marks, runs of unchanged ones folded
    (a <details> that opens to show them) with their number; past REDLINE_MAX_PARTS parts to
    draw, a sentence that says so instead (counted before drawing any: the cost is bounded)."""
    parts_drawn = sum(
        min(len(block.paragraphs), 2 * FOLD_ENDS_SHOWN + 1) if isinstance(block, Fold) else len(block.segments)
        for block in pair.blocks
    )
    if parts_drawn > REDLINE_MAX_PARTS:
        marks = pair.summary.marks if pair.summary else 0
        return format_html(
            '<p class="reason redline-omitted">{} changes marked: too many to show here. The plain text (unified '
            "diff) has every change.</p>",
            f"{marks:,}",
        )
    parts = []
    for block in pair.blocks:
        if isinstance(block, Fold):
            count = len(block.paragraphs)
            parts.append(
                format_html(
                    '<details class="fold"><summary>{} unchanged paragraph{}</summary>{}</details>',
                    count,
                    "" if count == 1 else "s",
                    _fold_html(block.paragraphs),
                )
            )
        else:
            segments = format_html_join("", "{}", ((_segment_html(s),) for s in block.segments))
            parts.append(format_html('<p class="changed">{}</p>', segments))
    return format_html('<div class="redline">{}</div>', format_html_join("", "{}", ((p,) for p in parts)))


def _fold_html(paragraphs: tuple[str, ...]) -> str:
    """A fold's paragraphs; of a long run, its first and last FOLD_ENDS_SHOWN (a page that holds
    every one of 100,000 unchanged lines is slow to build and to read)."""
    if len(paragraphs) <= 2 * FOLD_ENDS_SHOWN:
        return format_html_join("", "<p>{}</p>", ((p,) for p in paragraphs))
    hidden = len(paragraphs) - 2 * FOLD_ENDS_SHOWN
    return format_html(
        '{}<p class="fold-gap">… {} more unchanged paragraphs (in the documents themselves) …</p>{}',
        format_html_join("", "<p>{}</p>", ((p,) for p in paragraphs[:FOLD_ENDS_SHOWN])),
        f"{hidden:,}",
        format_html_join("", "<p>{}</p>", ((p,) for p in paragraphs[-FOLD_ENDS_SHOWN:])),
    )
