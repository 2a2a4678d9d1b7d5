"""What changed between two versions of a work item: its documents paired across the versions,
and each pair's extracted text compared as a redline.

Pure functions over plain values (DocumentSide), no database: the admin's view reads the two
versions' documents (selectors.version_documents_compared), calls `versions_compare` with a reader
of the texts it needs, and renders its answer; the same answer gives the plain-text export
(`comparison_unified`).

The comparison is in two passes, with Python's difflib (docs/performance.md says why): the
paragraphs first (the text's lines, compared by their words and punctuation: spacing aside), then
the words within each run of changed paragraphs. It runs under a Budget, one deadline: checked
inside difflib's longest-match search itself (our copy of it, `_Matcher`), after reading each text
and in every other loop that can be long, so that a pair which would take longer is stopped there
and said to be too large instead of holding the page; texts are at most `max_chars` characters.

Before comparing, texts are made NFC (an accent composed or not is the same letter) and lose the
invisible format characters (zero-width spaces and joiners, the byte-order mark) and the bidi
controls (embeddings, overrides, isolates): a change only in those is no change, and none of them
can reorder the redline's marks when it is shown.
"""

import dataclasses
import difflib
import re
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# Kinds of a pair.
IDENTICAL = "identical"
COMPARED = "compared"
UNAVAILABLE = "unavailable"
TOO_LARGE = "too_large"
OUT_OF_TIME = "out_of_time"
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
# The longest-match search looks at the clock after about this many steps of its inner loop (a
# step is well under a microsecond: the deadline is overrun by milliseconds at most).
STEPS_BETWEEN_CHECKS = 50_000
# Of a page's seconds, kept for reading the versions and drawing the answer after the comparison.
ANSWER_MARGIN = 0.15
# Other long loops (paragraphs read, tokens laid out, paragraphs aligned) look at it this often.
ITEMS_BETWEEN_CHECKS = 5_000
# Removed before comparing: invisible format characters (zero-width space, non-joiner, joiner,
# left-to-right and right-to-left marks, word joiner, byte-order mark) and the bidi controls
# (embeddings, overrides, isolates), which could otherwise reorder the redline's text.
INVISIBLE = dict.fromkeys([*range(0x200B, 0x2010), 0x2060, 0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


class Timeout(Exception):
    """The comparison's deadline passed."""


class Budget:
    """The time a comparison may take: a deadline, shared by every pair of a page. `clock` (a
    time.monotonic alike) is given by tests that make the deadline pass when they choose."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic, margin: float = 0.0) -> None:
        self.seconds = seconds
        self.clock = clock
        self.started = clock()
        # `margin`: time kept for what follows the comparison (drawing the page's answer).
        self.deadline = self.started + seconds - margin

    @property
    def passed(self) -> bool:
        return self.clock() > self.deadline

    def check(self) -> None:
        """Raise Timeout once the deadline has passed."""
        if self.clock() > self.deadline:
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
    """A changed paragraph of the redline, as its segments (unchanged paragraphs are in Folds)."""

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
    """What changed: paragraphs, words and punctuation marks, paragraph breaks; and `marks`, the
    number of insertions and deletions the redline shows (each a run of words or marks, or a ¶)."""

    paragraphs_changed: int
    words_added: int
    words_removed: int
    paragraphs_split: int = 0
    paragraphs_joined: int = 0
    punctuation_added: int = 0
    punctuation_removed: int = 0
    marks: int = 0

    def __str__(self) -> str:
        if not self.paragraphs_changed:
            return "No change in the text (spacing aside)."
        said = (
            f"{_count(self.paragraphs_changed, 'paragraph')} changed, "
            f"{_count(self.words_added, 'word')} added, {_count(self.words_removed, 'word')} removed"
        )
        if self.punctuation_added or self.punctuation_removed:
            said += f", {_count(self.punctuation_added, 'punctuation mark')} added, {self.punctuation_removed} removed"
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

    In the new version's order, each removed document after the pairs. Linear: documents are
    found by their position, never compared whole."""
    pairs: dict[int, tuple[int, str]] = {}  # new position: (old position, paired by)
    paired_old: set[int] = set()
    for by, key in (("document id", lambda d: d.advance_id), ("name", lambda d: d.name.strip().casefold())):
        waiting: dict[str, deque[int]] = {}
        for position, document in enumerate(old):
            if position not in paired_old and key(document):
                waiting.setdefault(key(document), deque()).append(position)
        for index, document in enumerate(new):
            if index in pairs or not key(document) or not waiting.get(key(document)):
                continue
            match = waiting[key(document)].popleft()
            pairs[index] = (match, by)
            paired_old.add(match)
    result: list[tuple[DocumentSide | None, DocumentSide | None, str]] = []
    for index, document in enumerate(new):
        match, by = pairs.get(index, (None, ""))
        result.append((old[match] if match is not None else None, document, by))
    result += [(document, None, "") for position, document in enumerate(old) if position not in paired_old]
    return result


# Text ----------------------------------------------------------------------------------------


def paragraphs_split(text: str) -> list[str]:
    """The text's paragraphs: its non-blank lines, each with its runs of white space made one space."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def text_normalised(text: str) -> str:
    """The text as compared: NFC, without invisible format characters and bidi controls."""
    return unicodedata.normalize("NFC", text).translate(INVISIBLE)


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


def _text_parsed(text: str, budget: Budget) -> list[_Parsed]:
    """The text's paragraphs parsed, the deadline looked at every ITEMS_BETWEEN_CHECKS of them."""
    parsed = []
    for index, paragraph in enumerate(paragraphs_split(text_normalised(text))):
        if index % ITEMS_BETWEEN_CHECKS == 0:
            budget.check()
        parsed.append(_parsed(paragraph))
    budget.check()
    return parsed


def _is_word(token: str) -> bool:
    return token != BREAK and (token[0].isalnum() or token[0] == "_")


class _Matcher(difflib.SequenceMatcher):
    """difflib's matcher, whose longest-match search stops at the budget's deadline (Timeout)."""

    def __init__(self, a: list[str], b: list[str], *, budget: Budget, autojunk: bool) -> None:
        budget.check()
        self.budget = budget
        self.steps = 0
        self.next_check = STEPS_BETWEEN_CHECKS
        super().__init__(None, a, b, autojunk=autojunk)
        budget.check()

    def find_longest_match(self, alo=0, ahi=None, blo=0, bhi=None):
        # CPython 3.11's difflib.SequenceMatcher.find_longest_match (pure Python; Python Software
        # Foundation License, Copyright (c) 2001-2023 Python Software Foundation), with one
        # change: the steps of its inner loop are counted (as the places of a[i] in b, before
        # that loop: an upper bound) and the deadline looked at every STEPS_BETWEEN_CHECKS.
        a, b, b2j, isbjunk = self.a, self.b, self.b2j, self.bjunk.__contains__
        if ahi is None:
            ahi = len(a)
        if bhi is None:
            bhi = len(b)
        besti, bestj, bestsize = alo, blo, 0
        # find longest junk-free match
        # during an iteration of the loop, j2len[j] = length of longest
        # junk-free match ending with a[i-1] and b[j]
        j2len = {}
        nothing = []
        steps, next_check = self.steps, self.next_check
        for i in range(alo, ahi):
            # look at all instances of a[i] in b; note that because
            # b2j has no junk keys, the loop is skipped if a[i] is junk
            places = b2j.get(a[i], nothing)
            steps += 1 + len(places)
            if steps >= next_check:
                self.steps = steps
                self.budget.check()
                next_check = steps + STEPS_BETWEEN_CHECKS
            j2lenget = j2len.get
            newj2len = {}
            for j in places:
                # a[i] matches b[j]
                if j < blo:
                    continue
                if j >= bhi:
                    break
                k = newj2len[j] = j2lenget(j - 1, 0) + 1
                if k > bestsize:
                    besti, bestj, bestsize = i - k + 1, j - k + 1, k
            j2len = newj2len
        self.steps, self.next_check = steps, next_check

        # Extend the best by non-junk elements on each end.  In particular,
        # "popular" non-junk elements aren't in b2j, which greatly speeds
        # the inner loop above, but also means "the best" match so far
        # doesn't contain any junk *or* popular non-junk elements.
        while besti > alo and bestj > blo and not isbjunk(b[bestj - 1]) and a[besti - 1] == b[bestj - 1]:
            besti, bestj, bestsize = besti - 1, bestj - 1, bestsize + 1
        while (
            besti + bestsize < ahi
            and bestj + bestsize < bhi
            and not isbjunk(b[bestj + bestsize])
            and a[besti + bestsize] == b[bestj + bestsize]
        ):
            bestsize += 1

        # Now that we have a wholly interesting match (albeit possibly
        # empty!), we may as well suck up the matching junk on each
        # side of it too.
        while besti > alo and bestj > blo and isbjunk(b[bestj - 1]) and a[besti - 1] == b[bestj - 1]:
            besti, bestj, bestsize = besti - 1, bestj - 1, bestsize + 1
        while (
            besti + bestsize < ahi
            and bestj + bestsize < bhi
            and isbjunk(b[bestj + bestsize])
            and a[besti + bestsize] == b[bestj + bestsize]
        ):
            bestsize = bestsize + 1

        return difflib.Match(besti, bestj, bestsize)


def _opcodes(a: list[str], b: list[str], *, budget: Budget, autojunk: bool) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes of a against b, their common start and end set aside first in linear time
    (a long text with one edit never reaches the search whole); within the budget."""
    start, most = 0, min(len(a), len(b))
    while start < most and a[start] == b[start]:
        start += 1
    end = 0
    while end < most - start and a[-1 - end] == b[-1 - end]:
        end += 1
    codes = []
    if start:
        codes.append(("equal", 0, start, 0, start))
    middle = _Matcher(a[start : len(a) - end], b[start : len(b) - end], budget=budget, autojunk=autojunk)
    for tag, i1, i2, j1, j2 in middle.get_opcodes():
        if tag == "equal" and codes and codes[-1][0] == "equal":
            continue  # difflib's empty middle answers one equal of nothing
        if i1 == i2 and j1 == j2:
            continue
        codes.append((tag, start + i1, start + i2, start + j1, start + j2))
    if end:
        if codes and codes[-1][0] == "equal":
            tag, i1, _, j1, _ = codes.pop()
            codes.append(("equal", i1, len(a), j1, len(b)))
        else:
            codes.append(("equal", len(a) - end, len(a), len(b) - end, len(b)))
    return codes


class _Redline:
    """The redline as it is built: blocks (runs of unchanged paragraphs kept as lists until the
    end), the counts of the summary, and the paragraph-level operations of the unified diff."""

    def __init__(self, old: list[_Parsed], new: list[_Parsed], budget: Budget) -> None:
        self.old, self.new, self.budget = old, new, budget
        self.blocks: list[list[str] | Paragraph] = []
        self.changed = self.added = self.removed = self.split = self.joined = 0
        self.marks_added = self.marks_removed = self.marks = 0
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
            if segment.kind == EQUAL:
                continue
            self.marks += 1
            if segment.paragraph_break:
                self.split += segment.kind == INSERT
                self.joined += segment.kind == DELETE
                continue
            tokens = WORD.findall(segment.text)
            words = sum(1 for token in tokens if _is_word(token))
            if segment.kind == INSERT:
                self.added += words
                self.marks_added += len(tokens) - words
            else:
                self.removed += words
                self.marks_removed += len(tokens) - words
        self.blocks.append(paragraph)

    def result(self) -> tuple[list[Fold | Paragraph], Summary]:
        blocks = [Fold(tuple(block)) if isinstance(block, list) else block for block in self.blocks]
        summary = Summary(
            self.changed,
            self.added,
            self.removed,
            self.split,
            self.joined,
            self.marks_added,
            self.marks_removed,
            self.marks,
        )
        return blocks, summary

    # The passes -----------------------------------------------------------------------------

    def compare(self) -> None:
        a, b = [p.key for p in self.old], [p.key for p in self.new]
        # Paragraphs repeated in a long text (autojunk) are matched only beside others.
        for tag, i1, i2, j1, j2 in _opcodes(a, b, budget=self.budget, autojunk=True):
            if tag == "equal":
                self.equal(i1, i2, j1)
            else:
                self.run(i1, i2, j1, j2)

    def equal(self, i1: int, i2: int, j1: int) -> None:
        self.fold([p.text for p in self.new[j1 : j1 + i2 - i1]])
        self.op("equal", i1, i2, j1, j1 + i2 - i1)

    def run(self, i1: int, i2: int, j1: int, j2: int) -> None:
        """A run of changed paragraphs compared word by word as one sequence, so that a paragraph
        inserted beside an edited one is told apart; a long run, its paragraphs aligned first by
        their words with numbers aside (a clause inserted renumbers the ones after it), then those
        left word by word in windows (`windows`)."""
        old, new = self.old[i1:i2], self.new[j1:j2]
        words = max(sum(len(p.tokens) for p in old), sum(len(p.tokens) for p in new))
        if words <= RUN_MAX_TOKENS or min(len(old), len(new)) <= 1:
            self.words(i1, i2, j1, j2)
            return
        a = [DIGITS.sub("#", p.key) for p in old]
        b = [DIGITS.sub("#", p.key) for p in new]
        for tag, a1, a2, b1, b2 in _opcodes(a, b, budget=self.budget, autojunk=True):
            if tag == "equal":
                for offset in range(a2 - a1):
                    if offset % ITEMS_BETWEEN_CHECKS == 0:
                        self.budget.check()
                    self.words(i1 + a1 + offset, i1 + a1 + offset + 1, j1 + b1 + offset, j1 + b1 + offset + 1)
            else:
                self.windows(i1 + a1, i1 + a2, j1 + b1, j1 + b2)

    def windows(self, i1: int, i2: int, j1: int, j2: int) -> None:
        """Changed paragraphs old[i1:i2] against new[j1:j2], word by word in windows of at most
        RUN_MAX_TOKENS a side: each window is compared, kept up to the last paragraph break its
        two sides share (what follows it may belong with the next window's paragraphs), and the
        next window starts there. So paragraphs meet by their words, not by their position."""
        while i1 < i2 or j1 < j2:
            self.budget.check()
            x2, y2 = _window_end(self.old, i1, i2), _window_end(self.new, j1, j2)
            if x2 == i2 and y2 == j2:
                self.words(i1, i2, j1, j2)
                return
            a, a_spaced = _joined(self.old[i1:x2])
            b, b_spaced = _joined(self.new[j1:y2])
            codes = _opcodes(a, b, budget=self.budget, autojunk=False)
            cut = _last_shared_break(codes, a)
            if cut is None:
                self.words(i1, x2, j1, y2, (a, a_spaced, b, b_spaced, codes))
                i1, j1 = x2, y2
                continue
            x, y = cut
            kept = [(t, p1, min(p2, x), q1, min(q2, y)) for t, p1, p2, q1, q2 in codes if p1 < x or q1 < y]
            old_kept, new_kept = a[:x].count(BREAK) + 1, b[:y].count(BREAK) + 1
            self.words(i1, i1 + old_kept, j1, j1 + new_kept, (a[:x], a_spaced[:x], b[:y], b_spaced[:y], kept))
            i1, j1 = i1 + old_kept, j1 + new_kept

    def words(self, i1: int, i2: int, j1: int, j2: int, compared=None) -> None:
        """Paragraphs old[i1:i2] replaced by new[j1:j2], word by word (or as `compared` gives
        them: the tokens and the opcodes): the redline's paragraphs, a paragraph break on both
        sides starting a new one, a break added inside what was one paragraph (a split) or
        removed inside what is now one (joined) shown with a PILCROW."""
        if compared is None:
            a, a_spaced = _joined(self.old[i1:i2])
            b, b_spaced = _joined(self.new[j1:j2])
            if a == b:
                # The same words (spacing aside): unchanged, without a matcher.
                self.fold([p.text for p in self.new[j1:j2]])
                self.op("equal", i1, i2, j1, j2)
                return
            # Autojunk (difflib's heuristic that ignores tokens frequent in a long sequence) would
            # mark words like "the" as changed: only past RUN_MAX_TOKENS, where it bounds the cost.
            autojunk = max(len(a), len(b)) > RUN_MAX_TOKENS
            codes = _opcodes(a, b, budget=self.budget, autojunk=autojunk)
        else:
            a, a_spaced, b, b_spaced, codes = compared
        self.op("replace", i1, i2, j1, j2)
        paragraphs: list[list[Segment]] = []
        current: list[Segment] = []
        laid = 0

        def add(kind: str, tokens: list[str], spaced: list[bool], breaks_marked: int) -> None:
            # The first `breaks_marked` breaks among the tokens are shown as a PILCROW (a split or
            # a join) inside the paragraph; any other break ends the paragraph.
            nonlocal current, laid
            text, first_spaced = "", False
            for token, space in zip(tokens, spaced, strict=True):
                laid += 1
                if laid % ITEMS_BETWEEN_CHECKS == 0:
                    self.budget.check()
                if token == BREAK:
                    if text:
                        current.append(Segment(kind, text, first_spaced))
                        text = ""
                    if breaks_marked:
                        breaks_marked -= 1
                        current.append(Segment(kind, PILCROW, True, paragraph_break=True))
                        continue
                    if current:
                        paragraphs.append(current)
                    current = []
                    continue
                if not text:
                    text, first_spaced = token, space and bool(current)
                else:
                    text += f" {token}" if space else token
            if text:
                current.append(Segment(kind, text, first_spaced))

        for tag, x1, x2, y1, y2 in codes:
            if tag == "equal":
                add(EQUAL, b[y1:y2], b_spaced[y1:y2], 0)
                continue
            removed, added = a[x1:x2].count(BREAK), b[y1:y2].count(BREAK)
            # Breaks removed where the new text has words on both sides are joins; breaks added
            # where the old text had words on both sides, splits (what is left of them beyond
            # those the other side has: a paragraph replaced keeps its breaks).
            inside_new = y1 > 0 and y2 < len(b) and b[y1 - 1] != BREAK and b[y2] != BREAK
            inside_old = x1 > 0 and x2 < len(a) and a[x1 - 1] != BREAK and a[x2] != BREAK
            add(DELETE, a[x1:x2], a_spaced[x1:x2], removed - added if inside_new and removed > added else 0)
            add(INSERT, b[y1:y2], b_spaced[y1:y2], added - removed if inside_old and added > removed else 0)
        if current:
            paragraphs.append(current)
        for segments in paragraphs:
            self.paragraph(segments)


def _window_end(paragraphs: list[_Parsed], start: int, stop: int) -> int:
    """Where a window of paragraphs[start:stop] ends: at least one paragraph, then as many as
    fit in RUN_MAX_TOKENS tokens."""
    end, tokens = start, 0
    while end < stop and (end == start or tokens + len(paragraphs[end].tokens) <= RUN_MAX_TOKENS):
        tokens += len(paragraphs[end].tokens) + 1
        end += 1
    return end


def _last_shared_break(codes: list[tuple[str, int, int, int, int]], a: list[str]) -> tuple[int, int] | None:
    """The positions (in a and in b) of the last paragraph break matched on both sides."""
    for tag, x1, x2, y1, _ in reversed(codes):
        if tag != "equal":
            continue
        for x in range(x2 - 1, x1 - 1, -1):
            if a[x] == BREAK:
                return x, y1 + x - x1
    return None


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
    changed paragraphs; unchanged runs folded. Raises Timeout past the budget's deadline."""
    return _redline(old_text, new_text, budget=budget).result()


def _redline(old_text: str, new_text: str, *, budget: Budget) -> _Redline:
    built = _Redline(_text_parsed(old_text, budget), _text_parsed(new_text, budget), budget)
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
    side without text (and why), too large (past `max_chars` a side, or the budget's deadline:
    out of time instead when pairs before it had taken most of the budget), or the redline (and,
    with `unified`, the unified diff's hunks, from the same paragraph pass)."""
    refused = pair_refusal(old, new, paired_by, max_chars=max_chars)
    if refused is not None:
        return refused
    started = budget.clock()
    try:
        built = _redline(old.text, new.text, budget=budget)
        blocks, summary = built.result()
        hunks = tuple(_hunks(built)) if unified else ()
    except Timeout:
        return _out_of_time(old, new, paired_by, budget=budget, started=started)
    return PairComparison(old, new, paired_by, COMPARED, blocks=tuple(blocks), summary=summary, hunks=hunks)


def _out_of_time(
    old: DocumentSide, new: DocumentSide, paired_by: str, *, budget: Budget, started: float
) -> PairComparison:
    # A pair that had (nearly) the whole budget is too large; one that had what pairs compared
    # before it left is not to blame for the time it did not have.
    sizes = f"old {old.chars:,} characters, new {new.chars:,}"
    if started - budget.started <= budget.seconds / 10:
        reason = f"Too large to compare within {budget.seconds:g} s ({sizes})."
        return PairComparison(old, new, paired_by, TOO_LARGE, reason=reason)
    reason = (
        f"The page's {budget.seconds:g} s to compare ran out on the documents compared before this one "
        f"({sizes}): compare it alone from its versions' documents, or use the plain text."
    )
    return PairComparison(old, new, paired_by, OUT_OF_TIME, reason=reason)


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
    budget: Budget | None = None,
) -> list[PairComparison]:
    """Every pair of the two versions' documents compared, all within `seconds` together (or the
    `budget` given), in the pairing's order. The pairs are compared smallest first, so that a large
    one does not leave the small ones without time; the texts not given are read through
    `texts_read` (by key) pair by pair, just before their pair is compared, and not at all once
    the deadline has passed: those pairs say the page's time ran out."""
    budget = budget or Budget(seconds, margin=min(ANSWER_MARGIN, seconds / 10))
    pairs = documents_pair(old, new)
    result: list[PairComparison | None] = [None] * len(pairs)
    waiting = []
    for index, (a, b, by) in enumerate(pairs):
        refused = pair_refusal(a, b, by, max_chars=max_chars)
        if refused is None:
            waiting.append(index)
        result[index] = refused
    waiting.sort(key=lambda index: pairs[index][0].chars + pairs[index][1].chars)
    for index in waiting:
        a, b, by = pairs[index]
        started = budget.clock()
        if budget.passed:
            result[index] = _out_of_time(a, b, by, budget=budget, started=started)
            continue
        unread = [side.pk for side in (a, b) if side.text is None]
        texts = texts_read(unread) if unread and texts_read is not None else {}
        a, b = (side if side.text is not None else _with_text(side, texts) for side in (a, b))
        if budget.passed:
            result[index] = _out_of_time(a, b, by, budget=budget, started=started)
            continue
        result[index] = pair_compare(a, b, by, budget=budget, max_chars=max_chars, unified=unified)
    return result


def _with_text(side: DocumentSide, texts: dict[int, str]) -> DocumentSide:
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
        elif pair.kind in (UNAVAILABLE, TOO_LARGE, OUT_OF_TIME):
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
