"""What changed between two versions of a work item: its documents paired across the versions,
and each pair's extracted text compared as a redline.

Pure functions over plain values (DocumentSide), no database: the admin's view reads the two
versions' documents and texts (selectors.version_documents_compared), calls `versions_compare`,
and renders its answer; the same answer gives the plain-text export (`comparison_unified`).

The comparison is in two passes, with Python's difflib (docs/performance.md says why): the
paragraphs first (the text's lines), then the words within each run of changed paragraphs. It
runs under a deadline, checked before each of difflib's longest-match searches, and on texts of
at most `max_chars` characters: a pair past either says so instead of holding the page.
"""

import difflib
import itertools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

# Kinds of a pair.
IDENTICAL = "identical"
COMPARED = "compared"
UNAVAILABLE = "unavailable"
TOO_LARGE = "too_large"
ADDED = "added"
REMOVED = "removed"

# Kinds of a segment of a redline paragraph.
EQUAL, INSERT, DELETE = "equal", "insert", "delete"

# A number with its separators (1,250.00) is one word; other punctuation a token of its own.
WORD = re.compile(r"\d+(?:[.,]\d+)*|\w+|[^\w\s]")
# The break between two paragraphs, as a token of the word-level pass: never a word's text.
BREAK = "\n"
# A run of changed paragraphs is compared word by word as one sequence up to this many tokens a
# side; past it, paragraph against paragraph.
RUN_MAX_TOKENS = 2_000


class Timeout(Exception):
    """The comparison's deadline passed."""


@dataclass(frozen=True)
class DocumentSide:
    """One version's document, as the comparison needs it. `text` is None when there is none to
    compare, and `unavailable` then says why (not stored, not extracted yet, failed and its reason)."""

    pk: int
    advance_id: str
    name: str
    sha256: str = ""
    text: str | None = None
    unavailable: str = ""
    truncated: bool = False

    @property
    def label(self) -> str:
        return self.name or self.advance_id


@dataclass(frozen=True)
class Segment:
    kind: str  # EQUAL, INSERT or DELETE
    text: str
    spaced: bool = False  # a space before it, in its paragraph


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of the redline: unchanged ones carry their text, changed ones their segments."""

    segments: tuple[Segment, ...]

    @property
    def changed(self) -> bool:
        return any(segment.kind != EQUAL for segment in self.segments)


@dataclass(frozen=True)
class Fold:
    """A run of unchanged paragraphs, shown folded with their number."""

    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Summary:
    paragraphs_changed: int
    words_added: int
    words_removed: int

    def __str__(self) -> str:
        if not (self.paragraphs_changed or self.words_added or self.words_removed):
            return "No change in the text."
        return (
            f"{_count(self.paragraphs_changed, 'paragraph')} changed, "
            f"{_count(self.words_added, 'word')} added, {_count(self.words_removed, 'word')} removed."
        )


@dataclass(frozen=True)
class PairComparison:
    """Two documents paired across the versions (one side None: added or removed) and what their
    comparison found: `kind`, the redline's blocks (Fold and Paragraph), the summary, or `reason`."""

    old: DocumentSide | None
    new: DocumentSide | None
    paired_by: str  # "document id", "name" or "" for an added or removed document
    kind: str
    blocks: tuple[Fold | Paragraph, ...] = ()
    summary: Summary | None = None
    reason: str = ""
    old_lines: tuple[str, ...] = field(default=(), repr=False)
    new_lines: tuple[str, ...] = field(default=(), repr=False)

    @property
    def label(self) -> str:
        old, new = self.old.label if self.old else "", self.new.label if self.new else ""
        return new if not old or old == new else (old if not new else f"{old} → {new}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# Pairing -------------------------------------------------------------------------------------


def documents_pair(
    old: list[DocumentSide], new: list[DocumentSide]
) -> list[tuple[DocumentSide | None, DocumentSide | None, str]]:
    """The documents of two versions paired by Advance's document id, then those left by name (in
    their order where a name repeats); the rest alone: (old, None) removed, (None, new) added.

    In the new version's order, each removed document after the pairs."""
    pairs: dict[int, tuple[DocumentSide | None, str]] = {}
    unpaired_old = list(old)
    for by, key in (("document id", lambda d: d.advance_id), ("name", lambda d: d.name.strip().casefold())):
        waiting: dict[str, list[DocumentSide]] = {}
        for document in unpaired_old:
            if key(document):
                waiting.setdefault(key(document), []).append(document)
        for index, document in enumerate(new):
            if index in pairs or not key(document) or not waiting.get(key(document)):
                continue
            match = waiting[key(document)].pop(0)
            pairs[index] = (match, by)
            unpaired_old.remove(match)
    result: list[tuple[DocumentSide | None, DocumentSide | None, str]] = []
    for index, document in enumerate(new):
        match, by = pairs.get(index, (None, ""))
        result.append((match, document, by))
    result += [(document, None, "") for document in unpaired_old]
    return result


# Text ----------------------------------------------------------------------------------------


def paragraphs_split(text: str) -> list[str]:
    """The text's paragraphs: its non-blank lines, each with its runs of white space made one space."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _tokens(paragraphs: list[str]) -> tuple[list[str], list[bool]]:
    """The paragraphs' words and punctuation marks, BREAK between paragraphs; and whether each
    was preceded by a space in its paragraph."""
    tokens: list[str] = []
    spaced: list[bool] = []
    for index, paragraph in enumerate(paragraphs):
        if index:
            tokens.append(BREAK)
            spaced.append(False)
        for match in WORD.finditer(paragraph):
            tokens.append(match.group())
            spaced.append(match.start() > 0 and paragraph[match.start() - 1] == " ")
    return tokens, spaced


def _is_word(token: str) -> bool:
    return token != BREAK and (token[0].isalnum() or token[0] == "_")


class _Timed(difflib.SequenceMatcher):
    """difflib's matcher, that gives up once the deadline has passed (checked before each of its
    longest-match searches, the unit of its work)."""

    def __init__(self, a: list[str], b: list[str], *, deadline: float, autojunk: bool) -> None:
        self.deadline = deadline
        super().__init__(None, a, b, autojunk=autojunk)

    def find_longest_match(self, alo=0, ahi=None, blo=0, bhi=None):
        if time.monotonic() > self.deadline:
            raise Timeout
        return super().find_longest_match(alo, ahi, blo, bhi)


def _run_paragraphs(old: list[str], new: list[str], *, deadline: float) -> list[Paragraph]:
    """A run of changed paragraphs (old replaced by new), word by word: the redline's paragraphs,
    a paragraph break on either side starting a new one."""
    (a, a_spaced), (b, b_spaced) = _tokens(old), _tokens(new)
    paragraphs: list[Paragraph] = []
    current: list[Segment] = []

    def add(kind: str, tokens: list[str], spaced: list[bool]) -> None:
        nonlocal current
        text = ""
        first_spaced = False
        for token, space in zip(tokens, spaced, strict=True):
            if token == BREAK:
                if text:
                    current.append(Segment(kind, text, first_spaced))
                    text = ""
                if current:
                    paragraphs.append(Paragraph(tuple(current)))
                current = []
            elif not text:
                text, first_spaced = token, space and bool(current)
            else:
                text += f" {token}" if space else token
        if text:
            current.append(Segment(kind, text, first_spaced))

    # Autojunk (difflib's heuristic that ignores tokens frequent in a long sequence) would mark
    # words like "the" as changed: only past RUN_MAX_TOKENS, where it bounds each search's cost.
    autojunk = max(len(a), len(b)) > RUN_MAX_TOKENS
    for tag, i1, i2, j1, j2 in _Timed(a, b, deadline=deadline, autojunk=autojunk).get_opcodes():
        if tag == "equal":
            add(EQUAL, b[j1:j2], b_spaced[j1:j2])
        else:
            add(DELETE, a[i1:i2], a_spaced[i1:i2])
            add(INSERT, b[j1:j2], b_spaced[j1:j2])
    if current:
        paragraphs.append(Paragraph(tuple(current)))
    return paragraphs


def _changed_run(old: list[str], new: list[str], *, deadline: float) -> list[Paragraph]:
    """A run of changed paragraphs compared word by word as one sequence, so that a paragraph
    inserted beside an edited one is told apart; a long run (every paragraph edited), paragraph
    against paragraph in their order."""
    words = max(sum(len(WORD.findall(p)) for p in old), sum(len(WORD.findall(p)) for p in new))
    if words <= RUN_MAX_TOKENS or min(len(old), len(new)) <= 1:
        return _run_paragraphs(old, new, deadline=deadline)
    paragraphs: list[Paragraph] = []
    for before, after in itertools.zip_longest(old, new):
        paragraphs += _run_paragraphs([before] if before else [], [after] if after else [], deadline=deadline)
    return paragraphs


def redline(old_text: str, new_text: str, *, deadline: float) -> tuple[list[Fold | Paragraph], Summary]:
    """The difference of two texts: paragraphs compared first, then the words of each run of
    changed paragraphs; unchanged runs folded. Raises Timeout past the deadline (time.monotonic())."""
    old, new = paragraphs_split(old_text), paragraphs_split(new_text)
    blocks: list[Fold | Paragraph] = []
    added = removed = changed = 0
    # Paragraphs repeated in a long text (autojunk) are matched only beside others: each search's cost stays bounded.
    for tag, i1, i2, j1, j2 in _Timed(old, new, deadline=deadline, autojunk=True).get_opcodes():
        if tag == "equal":
            blocks.append(Fold(tuple(new[j1:j2])))
            continue
        for paragraph in _changed_run(old[i1:i2], new[j1:j2], deadline=deadline):
            if paragraph.changed:
                changed += 1
                for segment in paragraph.segments:
                    words = sum(1 for token in WORD.findall(segment.text) if _is_word(token))
                    added += words if segment.kind == INSERT else 0
                    removed += words if segment.kind == DELETE else 0
                blocks.append(paragraph)
            elif blocks and isinstance(blocks[-1], Fold):
                # Paragraphs of a changed run that came out the same: unchanged, folded with their neighbours.
                blocks[-1] = Fold((*blocks[-1].paragraphs, paragraph.segments[0].text))
            else:
                blocks.append(Fold((paragraph.segments[0].text,)))
    return _merged_folds(blocks), Summary(changed, added, removed)


def _merged_folds(blocks: list[Fold | Paragraph]) -> list[Fold | Paragraph]:
    merged: list[Fold | Paragraph] = []
    for block in blocks:
        if isinstance(block, Fold) and merged and isinstance(merged[-1], Fold):
            merged[-1] = Fold((*merged[-1].paragraphs, *block.paragraphs))
        elif not (isinstance(block, Fold) and not block.paragraphs):
            merged.append(block)
    return merged


# Versions ------------------------------------------------------------------------------------


def pair_compare(
    old: DocumentSide | None,
    new: DocumentSide | None,
    paired_by: str,
    *,
    deadline: float,
    max_chars: int,
    seconds: float,
) -> PairComparison:
    """One pair's comparison: added or removed, identical bytes (same SHA-256, nothing diffed), a
    side without text (and why), too large (past `max_chars` a side or the deadline), or the redline."""
    if old is None or new is None:
        return PairComparison(old, new, paired_by, ADDED if old is None else REMOVED)
    if old.sha256 and old.sha256 == new.sha256:
        return PairComparison(old, new, paired_by, IDENTICAL)
    missing = [
        f"{side}: {document.unavailable}" for side, document in (("old", old), ("new", new)) if document.text is None
    ]
    if missing:
        return PairComparison(old, new, paired_by, UNAVAILABLE, reason="; ".join(missing))
    sizes = f"old {len(old.text):,} characters, new {len(new.text):,}"
    if len(old.text) > max_chars or len(new.text) > max_chars:
        return PairComparison(
            old,
            new,
            paired_by,
            TOO_LARGE,
            reason=f"Too large to compare: more than {max_chars:,} characters ({sizes}).",
        )
    try:
        blocks, summary = redline(old.text, new.text, deadline=deadline)
    except Timeout:
        return PairComparison(
            old, new, paired_by, TOO_LARGE, reason=f"Too large to compare within {seconds:g} s ({sizes})."
        )
    return PairComparison(
        old,
        new,
        paired_by,
        COMPARED,
        blocks=tuple(blocks),
        summary=summary,
        old_lines=tuple(paragraphs_split(old.text)),
        new_lines=tuple(paragraphs_split(new.text)),
    )


def versions_compare(
    old: list[DocumentSide], new: list[DocumentSide], *, seconds: float, max_chars: int
) -> list[PairComparison]:
    """Every pair of the two versions' documents compared, all within `seconds` together: a pair
    reached after the time is spent says it is too large to compare within them."""
    deadline = time.monotonic() + seconds
    return [
        pair_compare(a, b, by, deadline=deadline, max_chars=max_chars, seconds=seconds)
        for a, b, by in documents_pair(old, new)
    ]


# Export --------------------------------------------------------------------------------------


def comparison_unified(pairs: list[PairComparison], *, old_name: str, new_name: str) -> Iterator[str]:
    """The comparison as plain text, line by line (without line ends): each pair's state and, for a
    compared one, its summary and a unified diff of its paragraphs (three of context)."""
    for pair in pairs:
        yield f"=== {pair.label}"
        if pair.kind == ADDED:
            yield f"Added in {new_name}."
        elif pair.kind == REMOVED:
            yield f"Removed in {new_name} (was in {old_name})."
        elif pair.kind == IDENTICAL:
            yield "Identical (the same bytes, SHA-256)."
        elif pair.kind in (UNAVAILABLE, TOO_LARGE):
            yield f"Not compared: {pair.reason}"
        else:
            yield str(pair.summary)
            yield from difflib.unified_diff(
                pair.old_lines,
                pair.new_lines,
                fromfile=f"{old_name}/{pair.old.label}",
                tofile=f"{new_name}/{pair.new.label}",
                lineterm="",
                n=3,
            )
        yield ""


def comparison_text(pairs: list[PairComparison], *, old_name: str, new_name: str) -> str:
    """The plain-text export: comparison_unified's lines, each ended."""
    return "".join(f"{line}\n" for line in comparison_unified(pairs, old_name=old_name, new_name=new_name))
