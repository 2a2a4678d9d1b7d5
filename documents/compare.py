"""What changed between two versions of a work item: its documents paired across the versions,
and each pair's extracted text compared as a redline.

Pure functions over plain values (DocumentSide), no database: the admin's view reads the two
versions' documents (selectors.version_documents_compared), calls `versions_compare` with a reader
of the texts it needs, and renders its answer; the same answer gives the plain-text export
(`comparison_unified`).

The comparison is in two passes, with Python's difflib (docs/performance.md says why): the
paragraphs first (the text's lines, compared by their words and punctuation: spacing aside), then
the words within each run of changed paragraphs. It runs under a Budget: a deadline, and a bound on
difflib's work counted before each of its longest-match searches (the search's cost is known before
it runs: the occurrences in one side of the other side's tokens), so that a pair which would take
longer says so at once instead of holding the page; texts are at most `max_chars` characters.
"""

import dataclasses
import difflib
import itertools
import re
import time
from collections.abc import Callable, Iterator
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
DIGITS = re.compile(r"\d+")
# The break between two paragraphs, as a token of the word-level pass: never a word's text.
BREAK = "\n"
# How a paragraph break added (a paragraph split) or removed (two joined) is shown.
PILCROW = "¶"
# A run of changed paragraphs is compared word by word as one sequence up to this many tokens a
# side; past it, its paragraphs are aligned first (numbers aside, so that renumbered clauses meet).
RUN_MAX_TOKENS = 2_000
# difflib's work the budget allows per second: one unit is one step of its longest-match search's
# inner loop (a conservative rate for these shared cores: docs/performance.md has the measure).
WORK_PER_SECOND = 6_000_000
# What building a matcher costs, in those units, whatever its size.
MATCHER_COST = 50


class Timeout(Exception):
    """The comparison's deadline passed."""


class OverBudget(Timeout):
    """The comparison would do more work than its budget allows: refused before doing it."""


class Budget:
    """The time and the work a comparison may spend: a deadline (time.monotonic()) and units of
    difflib's work, shared by every pair of a page."""

    def __init__(self, seconds: float, *, work: int | None = None) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.work = int(seconds * WORK_PER_SECOND) if work is None else work
        self.spent = 0

    def spend(self, units: int) -> None:
        """Count `units` of work about to be done: OverBudget past the allowance, Timeout past the deadline."""
        if self.spent + units > self.work:
            raise OverBudget
        self.spent += units
        if time.monotonic() > self.deadline:
            raise Timeout


@dataclass(frozen=True)
class DocumentSide:
    """One version's document, as the comparison needs it. `unavailable` says why there is no
    text to compare (not stored, not extracted yet, failed and its reason); otherwise `length` is
    its text's length and `text` the text once read (given at once, or read by versions_compare)."""

    pk: int
    advance_id: str
    name: str
    sha256: str = ""
    text: str | None = None
    unavailable: str = ""
    truncated: bool = False
    length: int | None = None

    @property
    def label(self) -> str:
        return self.name or self.advance_id

    @property
    def chars(self) -> int:
        return len(self.text) if self.text is not None else (self.length or 0)


@dataclass(frozen=True)
class Segment:
    kind: str  # EQUAL, INSERT or DELETE
    text: str
    spaced: bool = False  # a space before it, in its paragraph
    paragraph_break: bool = False  # a PILCROW: a paragraph break added (INSERT) or removed (DELETE)


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
    paragraphs_split: int = 0
    paragraphs_joined: int = 0

    def __str__(self) -> str:
        if not (self.paragraphs_changed or self.words_added or self.words_removed):
            return "No change in the text (spacing aside)."
        said = (
            f"{_count(self.paragraphs_changed, 'paragraph')} changed, "
            f"{_count(self.words_added, 'word')} added, {_count(self.words_removed, 'word')} removed"
        )
        if self.paragraphs_split:
            said += f", {self.paragraphs_split} split"
        if self.paragraphs_joined:
            said += f", {self.paragraphs_joined} joined"
        return f"{said}."


@dataclass(frozen=True)
class PairComparison:
    """Two documents paired across the versions (one side None: added or removed) and what their
    comparison found: `kind`, the redline's blocks (Fold and Paragraph), the summary, or `reason`;
    and, when asked for the export, the unified diff's hunks of its paragraphs."""

    old: DocumentSide | None
    new: DocumentSide | None
    paired_by: str  # "document id", "name" or "" for an added or removed document
    kind: str
    blocks: tuple[Fold | Paragraph, ...] = ()
    summary: Summary | None = None
    reason: str = ""
    hunks: tuple[str, ...] = field(default=(), repr=False)

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


@dataclass(frozen=True)
class _Parsed:
    """A paragraph read once: its text, its words and punctuation marks, whether each was preceded
    by a space, and its key (the tokens: two paragraphs that differ only in spacing are equal)."""

    text: str
    tokens: tuple[str, ...]
    spaced: tuple[bool, ...]
    key: str


def _parsed(paragraph: str) -> _Parsed:
    tokens, spaced = [], []
    for match in WORD.finditer(paragraph):
        tokens.append(match.group())
        spaced.append(match.start() > 0 and paragraph[match.start() - 1] == " ")
    return _Parsed(paragraph, tuple(tokens), tuple(spaced), " ".join(tokens))


def _is_word(token: str) -> bool:
    return token != BREAK and (token[0].isalnum() or token[0] == "_")


class _Timed(difflib.SequenceMatcher):
    """difflib's matcher, that counts each longest-match search's cost against the budget before
    running it: the search looks at every position of a[alo:ahi] and, for each, at every place its
    token has in b (b2j, without the tokens autojunk dropped), so its cost is known beforehand."""

    def __init__(self, a: list[str], b: list[str], *, budget: Budget, autojunk: bool) -> None:
        budget.spend(MATCHER_COST + len(a) + len(b))
        self.budget = budget
        super().__init__(None, a, b, autojunk=autojunk)
        places = self.b2j
        self.cost_before = list(itertools.accumulate((len(places.get(token, ())) for token in a), initial=0))

    def find_longest_match(self, alo=0, ahi=None, blo=0, bhi=None):
        ahi = len(self.a) if ahi is None else ahi
        bhi = len(self.b) if bhi is None else bhi
        self.budget.spend(1 + 2 * (ahi - alo) + self.cost_before[ahi] - self.cost_before[alo])
        return super().find_longest_match(alo, ahi, blo, bhi)


class _Redline:
    """The redline as it is built: blocks (runs of unchanged paragraphs kept as lists until the
    end), the counts of the summary, and the paragraph-level operations of the unified diff."""

    def __init__(self, old: list[_Parsed], new: list[_Parsed], budget: Budget) -> None:
        self.old, self.new, self.budget = old, new, budget
        self.blocks: list[list[str] | Paragraph] = []
        self.changed = self.added = self.removed = self.split = self.joined = 0
        self.ops: list[tuple[str, int, int, int, int]] = []

    def fold(self, paragraphs: list[str]) -> None:
        if not paragraphs:
            return
        if self.blocks and isinstance(self.blocks[-1], list):
            self.blocks[-1].extend(paragraphs)
        else:
            self.blocks.append(list(paragraphs))

    def op(self, tag: str, i1: int, i2: int, j1: int, j2: int) -> None:
        if i1 == i2 and j1 == j2:
            return
        tag = tag if tag == "equal" else "replace"
        if self.ops and self.ops[-1][0] == tag and self.ops[-1][2] == i1 and self.ops[-1][4] == j1:
            self.ops[-1] = (tag, self.ops[-1][1], i2, self.ops[-1][3], j2)
        else:
            self.ops.append((tag, i1, i2, j1, j2))

    def paragraph(self, segments: list[Segment]) -> None:
        paragraph = Paragraph(tuple(segments))
        if not paragraph.changed:
            self.fold(["".join(f" {s.text}" if s.spaced else s.text for s in segments)])
            return
        self.changed += 1
        for segment in segments:
            if segment.paragraph_break:
                self.split += segment.kind == INSERT
                self.joined += segment.kind == DELETE
                continue
            words = sum(1 for token in WORD.findall(segment.text) if _is_word(token))
            self.added += words if segment.kind == INSERT else 0
            self.removed += words if segment.kind == DELETE else 0
        self.blocks.append(paragraph)

    def result(self) -> tuple[list[Fold | Paragraph], Summary]:
        blocks = [Fold(tuple(block)) if isinstance(block, list) else block for block in self.blocks]
        return blocks, Summary(self.changed, self.added, self.removed, self.split, self.joined)

    # The passes -----------------------------------------------------------------------------

    def compare(self) -> None:
        old, new = self.old, self.new
        # The same start and end, set aside in linear time: a long text with one edit (or one
        # repeated paragraph) never reaches the matcher whole.
        self.budget.spend(len(old) + len(new))
        start = 0
        while start < min(len(old), len(new)) and old[start].key == new[start].key:
            start += 1
        end = 0
        while end < min(len(old), len(new)) - start and old[-1 - end].key == new[-1 - end].key:
            end += 1
        self.equal(0, start, 0)
        a, b = [p.key for p in old[start : len(old) - end]], [p.key for p in new[start : len(new) - end]]
        # Paragraphs repeated in a long text (autojunk) are matched only beside others.
        for tag, i1, i2, j1, j2 in _Timed(a, b, budget=self.budget, autojunk=True).get_opcodes():
            if tag == "equal":
                self.equal(start + i1, start + i2, start + j1)
            else:
                self.run(start + i1, start + i2, start + j1, start + j2)
        self.equal(len(old) - end, len(old), len(new) - end)

    def equal(self, i1: int, i2: int, j1: int) -> None:
        self.fold([p.text for p in self.new[j1 : j1 + i2 - i1]])
        self.op("equal", i1, i2, j1, j1 + i2 - i1)

    def run(self, i1: int, i2: int, j1: int, j2: int) -> None:
        """A run of changed paragraphs compared word by word as one sequence, so that a paragraph
        inserted beside an edited one is told apart; a long run, its paragraphs aligned first by
        their words with numbers aside (a clause inserted renumbers the ones after it), then those
        left paragraph against paragraph in their order."""
        old, new = self.old[i1:i2], self.new[j1:j2]
        words = max(sum(len(p.tokens) for p in old), sum(len(p.tokens) for p in new))
        if words <= RUN_MAX_TOKENS or min(len(old), len(new)) <= 1:
            self.words(i1, i2, j1, j2)
            return
        a = [DIGITS.sub("#", p.key) for p in old]
        b = [DIGITS.sub("#", p.key) for p in new]
        for tag, a1, a2, b1, b2 in _Timed(a, b, budget=self.budget, autojunk=True).get_opcodes():
            if tag == "equal":
                for offset in range(a2 - a1):
                    self.words(i1 + a1 + offset, i1 + a1 + offset + 1, j1 + b1 + offset, j1 + b1 + offset + 1)
                continue
            left_words = max(sum(len(p.tokens) for p in old[a1:a2]), sum(len(p.tokens) for p in new[b1:b2]))
            if left_words <= RUN_MAX_TOKENS:
                self.words(i1 + a1, i1 + a2, j1 + b1, j1 + b2)
                continue
            for offset in range(max(a2 - a1, b2 - b1)):
                x = min(i1 + a1 + offset, i1 + a2)
                y = min(j1 + b1 + offset, j1 + b2)
                self.words(x, min(x + 1, i1 + a2), y, min(y + 1, j1 + b2))

    def words(self, i1: int, i2: int, j1: int, j2: int) -> None:
        """Paragraphs old[i1:i2] replaced by new[j1:j2], word by word: the redline's paragraphs, a
        paragraph break on both sides starting a new one, one added or removed between words
        that stay shown with a PILCROW."""
        old, new = self.old[i1:i2], self.new[j1:j2]
        a, a_spaced = _joined(old)
        b, b_spaced = _joined(new)
        if a == b:
            # The same words (spacing aside): unchanged, without a matcher.
            self.budget.spend(len(a))
            self.fold([p.text for p in new])
            self.op("equal", i1, i2, j1, j2)
            return
        self.op("replace", i1, i2, j1, j2)
        paragraphs: list[list[Segment]] = []
        current: list[Segment] = []
        pending_break = ""  # the kind of a break just added or removed after words that stayed

        def add(kind: str, tokens: list[str], spaced: list[bool]) -> None:
            nonlocal current, pending_break
            text, first_spaced = "", False
            for token, space in zip(tokens, spaced, strict=True):
                if token == BREAK:
                    if text:
                        current.append(Segment(kind, text, first_spaced))
                        text = ""
                    if kind != EQUAL and any(s.kind == EQUAL for s in current):
                        pending_break = kind
                    if current:
                        paragraphs.append(current)
                    current = []
                    continue
                if pending_break:
                    if kind == EQUAL and paragraphs:
                        paragraphs[-1].append(Segment(pending_break, PILCROW, True, paragraph_break=True))
                    pending_break = ""
                if not text:
                    text, first_spaced = token, space and bool(current)
                else:
                    text += f" {token}" if space else token
            if text:
                current.append(Segment(kind, text, first_spaced))

        # Autojunk (difflib's heuristic that ignores tokens frequent in a long sequence) would mark
        # words like "the" as changed: only past RUN_MAX_TOKENS, where it bounds each search's cost.
        autojunk = max(len(a), len(b)) > RUN_MAX_TOKENS
        for tag, x1, x2, y1, y2 in _Timed(a, b, budget=self.budget, autojunk=autojunk).get_opcodes():
            if tag == "equal":
                add(EQUAL, b[y1:y2], b_spaced[y1:y2])
            else:
                add(DELETE, a[x1:x2], a_spaced[x1:x2])
                add(INSERT, b[y1:y2], b_spaced[y1:y2])
        if current:
            paragraphs.append(current)
        for segments in paragraphs:
            self.paragraph(segments)


def _joined(paragraphs: list[_Parsed]) -> tuple[list[str], list[bool]]:
    """The paragraphs' tokens as one sequence, BREAK between paragraphs."""
    tokens: list[str] = []
    spaced: list[bool] = []
    for index, paragraph in enumerate(paragraphs):
        if index:
            tokens.append(BREAK)
            spaced.append(False)
        tokens += paragraph.tokens
        spaced += paragraph.spaced
    return tokens, spaced


def redline(old_text: str, new_text: str, *, budget: Budget) -> tuple[list[Fold | Paragraph], Summary]:
    """The difference of two texts: paragraphs compared first, then the words of each run of
    changed paragraphs; unchanged runs folded. Raises Timeout (or OverBudget) past the budget."""
    return _redline(old_text, new_text, budget=budget).result()


def _redline(old_text: str, new_text: str, *, budget: Budget) -> _Redline:
    budget.spend(len(old_text) // 8 + len(new_text) // 8)
    old = [_parsed(p) for p in paragraphs_split(old_text)]
    new = [_parsed(p) for p in paragraphs_split(new_text)]
    built = _Redline(old, new, budget)
    built.compare()
    return built


def _hunks(built: _Redline, *, context: int = 3) -> Iterator[str]:
    """The unified diff's hunks of the redline's paragraph-level operations, grouped as difflib's
    unified_diff groups them: `context` paragraphs around each change."""
    codes = list(built.ops)
    if not any(tag != "equal" for tag, *_ in codes):
        return
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)
    groups, group = [], []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * context:
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            groups.append(group)
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        groups.append(group)
    for group in groups:
        if all(tag == "equal" for tag, *_ in group):
            continue
        (_, i1, _, j1, _), (_, _, i2, _, j2) = group[0], group[-1]
        yield f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@"
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                yield from (f" {p.text}" for p in built.new[b1:b2])
            else:
                yield from (f"-{p.text}" for p in built.old[a1:a2])
                yield from (f"+{p.text}" for p in built.new[b1:b2])


def _range(start: int, stop: int) -> str:
    # As difflib's unified_diff writes a range: 1-based, its length after a comma unless 1.
    length = stop - start
    first = start + 1 if length else start
    return f"{first}" if length == 1 else f"{first},{length}"


# Versions ------------------------------------------------------------------------------------


def pair_compare(
    old: DocumentSide | None,
    new: DocumentSide | None,
    paired_by: str,
    *,
    budget: Budget,
    max_chars: int,
    unified: bool = False,
) -> PairComparison:
    """One pair's comparison: added or removed, identical bytes (same SHA-256, nothing diffed), a
    side without text (and why), too large (past `max_chars` a side, or the budget), or the
    redline (and, with `unified`, the unified diff's hunks, from the same paragraph pass)."""
    refused = pair_refusal(old, new, paired_by, max_chars=max_chars)
    if refused is not None:
        return refused
    sizes = f"old {old.chars:,} characters, new {new.chars:,}"
    try:
        built = _redline(old.text, new.text, budget=budget)
        blocks, summary = built.result()
        hunks = tuple(_hunks(built)) if unified else ()
    except OverBudget:
        reason = f"Too large to compare within {budget.seconds:g} s: it would take longer ({sizes})."
        return PairComparison(old, new, paired_by, TOO_LARGE, reason=reason)
    except Timeout:
        reason = f"Too large to compare within {budget.seconds:g} s ({sizes})."
        return PairComparison(old, new, paired_by, TOO_LARGE, reason=reason)
    return PairComparison(old, new, paired_by, COMPARED, blocks=tuple(blocks), summary=summary, hunks=hunks)


def pair_refusal(
    old: DocumentSide | None, new: DocumentSide | None, paired_by: str, *, max_chars: int
) -> PairComparison | None:
    """The pair's answer when its texts are not to be compared (so not to be read): added or
    removed, identical, a side without text, or a side past `max_chars`; None otherwise."""
    if old is None or new is None:
        return PairComparison(old, new, paired_by, ADDED if old is None else REMOVED)
    if old.sha256 and old.sha256 == new.sha256:
        return PairComparison(old, new, paired_by, IDENTICAL)
    missing = [
        f"{side}: {document.unavailable}" for side, document in (("old", old), ("new", new)) if document.unavailable
    ]
    if missing:
        return PairComparison(old, new, paired_by, UNAVAILABLE, reason="; ".join(missing))
    if old.chars > max_chars or new.chars > max_chars:
        sizes = f"old {old.chars:,} characters, new {new.chars:,}"
        reason = f"Too large to compare: more than {max_chars:,} characters ({sizes})."
        return PairComparison(old, new, paired_by, TOO_LARGE, reason=reason)
    return None


def versions_compare(
    old: list[DocumentSide],
    new: list[DocumentSide],
    *,
    seconds: float,
    max_chars: int,
    texts_read: Callable[[list[int]], dict[int, str]] | None = None,
    unified: bool = False,
) -> list[PairComparison]:
    """Every pair of the two versions' documents compared, all within `seconds` together: a pair
    reached after the budget is spent says it is too large to compare within them. The texts of
    the pairs to compare that are not given are read at once through `texts_read` (by key)."""
    budget = Budget(seconds)
    pairs = documents_pair(old, new)
    wanted = [
        side.pk
        for a, b, by in pairs
        if pair_refusal(a, b, by, max_chars=max_chars) is None
        for side in (a, b)
        if side.text is None
    ]
    texts = texts_read(wanted) if wanted and texts_read is not None else {}
    result = []
    for a, b, by in pairs:
        sides = [side if side is None or side.text is not None else _with_text(side, texts) for side in (a, b)]
        result.append(pair_compare(*sides, by, budget=budget, max_chars=max_chars, unified=unified))
    return result


def _with_text(side: DocumentSide, texts: dict[int, str]) -> DocumentSide:
    if side.unavailable:
        return side
    if side.pk not in texts:
        return dataclasses.replace(side, unavailable="text not found")
    return dataclasses.replace(side, text=texts[side.pk])


# Export --------------------------------------------------------------------------------------

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(value: str) -> str:
    """A name on one line: its control characters and line breaks made spaces, so that no name
    starts a line of the export of its own."""
    return CONTROL.sub(" ", value)


def comparison_unified(pairs: list[PairComparison], *, old_name: str, new_name: str) -> Iterator[str]:
    """The comparison as plain text, line by line (without line ends): each pair's state and, for a
    compared one, its summary and a unified diff of its paragraphs (three of context), as the page
    compares them (spacing aside). The pairs come from versions_compare(..., unified=True)."""
    old_name, new_name = one_line(old_name), one_line(new_name)
    for pair in pairs:
        yield f"=== {one_line(pair.label)}"
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
            if pair.hunks:
                yield f"--- {old_name}/{one_line(pair.old.label)}"
                yield f"+++ {new_name}/{one_line(pair.new.label)}"
                yield from pair.hunks
        yield ""


def comparison_text(pairs: list[PairComparison], *, old_name: str, new_name: str) -> str:
    """The plain-text export: comparison_unified's lines, each ended."""
    return "".join(f"{line}\n" for line in comparison_unified(pairs, old_name=old_name, new_name=new_name))
