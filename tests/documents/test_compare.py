"""Comparing two versions of a work item: the pure comparison (pairing, paragraphs then words,
folds, summary, budget, export), and the admin's page and plain-text export through real HTTP on
real .docx and .pdf documents extracted as the search extracts them, with access by source."""

import random
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import BadRequest
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessRecord
from bench.compare_texts import contract_text, edited, everything_changed
from documents.admin import comparison
from documents.admin.comparison import FOLD_ENDS_SHOWN, CompareQuery, compare_query_parse, redline_html, versions_chosen
from documents.compare import (
    ADDED,
    COMPARED,
    DELETE,
    EQUAL,
    IDENTICAL,
    INSERT,
    OUT_OF_TIME,
    PILCROW,
    REMOVED,
    STEPS_BETWEEN_CHECKS,
    TOO_LARGE,
    UNAVAILABLE,
    Budget,
    DocumentSide,
    Fold,
    Paragraph,
    Timeout,
    _Matcher,
    comparison_text,
    documents_pair,
    pair_compare,
    redline,
    versions_compare,
)
from documents.models import DocumentText, WorkItem
from documents.search.services import document_text_extract
from sources.models import SourceAccess
from sources.services import source_access_grant
from tests.factories import document_make
from tests.support.search_files import DOCX_TYPE, docx_paragraphs_bytes, pdf_lines_bytes, pdf_without_text_bytes

LATER = 10.0


def side(pk: int, advance_id: str, name: str, text: str | None = "", **fields) -> DocumentSide:
    return DocumentSide(pk=pk, advance_id=advance_id, name=name, text=text, **fields)


def marks(blocks) -> list[tuple[str, str]]:
    """Every insertion and deletion of a redline, in order."""
    return [
        (segment.kind, segment.text)
        for block in blocks
        if isinstance(block, Paragraph)
        for segment in block.segments
        if segment.kind != EQUAL
    ]


def compared(old: str, new: str):
    return redline(old, new, budget=Budget(LATER))


# Pairing ------------------------------------------------------------------------------------


def test_documents_are_paired_by_document_id_then_by_name_and_the_rest_are_added_or_removed():
    old = [side(1, "d1", "Lease"), side(2, "d2", "Schedule"), side(3, "d3", "Annex"), side(4, "d4", "Old letter")]
    new = [side(11, "d1", "Lease (signed)"), side(12, "x9", "schedule"), side(13, "d3", "Annex"), side(14, "d5", "Map")]

    pairs = [(a and a.pk, b and b.pk, by) for a, b, by in documents_pair(old, new)]

    assert pairs == [
        (1, 11, "document id"),  # renamed, the same id
        (2, 12, "name"),  # a new id, the same name (case aside)
        (3, 13, "document id"),
        (None, 14, ""),  # added
        (4, None, ""),  # removed
    ]


def test_an_id_pairing_wins_over_a_name_pairing():
    old = [side(1, "d1", "Lease"), side(2, "d2", "Lease")]
    new = [side(11, "d2", "Lease")]

    assert [(a and a.pk, b and b.pk, by) for a, b, by in documents_pair(old, new)] == [
        (2, 11, "document id"),
        (1, None, ""),
    ]


def test_added_removed_identical_and_missing_text_are_said_without_diffing():
    old = [
        side(1, "same", "Same", text=None, sha256="ab" * 32, unavailable="text not extracted yet"),
        side(2, "scan", "Scan", text=None, unavailable="text extraction failed: No text layer (a scanned image?)"),
        side(3, "gone", "Gone"),
        side(5, "bin", "Binary", text="x"),
    ]
    new = [
        side(11, "same", "Same", text=None, sha256="ab" * 32, unavailable="text not extracted yet"),
        side(12, "scan", "Scan", text="some text"),
        side(14, "new", "New"),
        side(15, "bin", "Binary", text=None, unavailable="no text: A type without a text extractor"),
    ]

    pairs = {pair.label: pair for pair in versions_compare(old, new, seconds=LATER, max_chars=1000)}

    assert {label: pair.kind for label, pair in pairs.items()} == {
        "Same": IDENTICAL,
        "Scan": UNAVAILABLE,
        "New": ADDED,
        "Gone": REMOVED,
        "Binary": UNAVAILABLE,
    }
    assert pairs["Scan"].reason == "old: text extraction failed: No text layer (a scanned image?)"
    assert pairs["Binary"].reason == "new: no text: A type without a text extractor"


# The redline --------------------------------------------------------------------------------


def test_the_known_edits_are_marked_word_by_word_and_nothing_else():
    old = "1. Parties\nThe rent is 100 pounds, payable monthly.\nThe tenant keeps the garden tidy.\nSigned in London."
    new = "1. Parties\nThe rent is 120 pounds, payable quarterly.\nThe tenant keeps the garden tidy.\nSigned in Leeds."

    blocks, summary = compared(old, new)

    assert marks(blocks) == [
        (DELETE, "100"),
        (INSERT, "120"),
        (DELETE, "monthly"),
        (INSERT, "quarterly"),
        (DELETE, "London"),
        (INSERT, "Leeds"),
    ]
    assert (summary.paragraphs_changed, summary.words_added, summary.words_removed) == (2, 3, 3)
    assert str(summary) == "2 paragraphs changed, 3 words added, 3 words removed."
    changed = [block for block in blocks if isinstance(block, Paragraph)][0]
    assert [(s.kind, s.text, s.spaced) for s in changed.segments] == [
        (EQUAL, "The rent is", False),
        (DELETE, "100", True),
        (INSERT, "120", True),
        (EQUAL, "pounds, payable", True),
        (DELETE, "monthly", True),
        (INSERT, "quarterly", True),
        (EQUAL, ".", False),
    ]


def test_unchanged_paragraphs_are_folded_with_their_count():
    paragraphs = [f"Clause {n} stays as it was." for n in range(1, 11)]
    new = list(paragraphs)
    new[6] = "Clause 7 is new."

    blocks, _ = compared("\n".join(paragraphs), "\n".join(new))

    assert [len(b.paragraphs) if isinstance(b, Fold) else "changed" for b in blocks] == [6, "changed", 3]
    assert blocks[0].paragraphs[0] == "Clause 1 stays as it was."


def test_a_long_fold_shows_its_first_and_last_paragraphs_and_the_number_between():
    paragraphs = [f"Clause {n} stays as it was." for n in range(1, 1001)]
    pair = pair_compare(
        side(1, "c", "C", text="\n".join(paragraphs)),
        side(2, "c", "C", text="\n".join([*paragraphs, "A clause added at the end."])),
        "",
        budget=Budget(2),
        max_chars=500_000,
    )

    page = str(redline_html(pair))

    assert "1000 unchanged paragraphs" in page
    assert f"<p>Clause {FOLD_ENDS_SHOWN} stays as it was.</p>" in page and "<p>Clause 1000 stays as it was.</p>" in page
    assert f"Clause {FOLD_ENDS_SHOWN + 1} stays" not in page and f"Clause {1000 - FOLD_ENDS_SHOWN} stays" not in page
    assert f"… {1000 - 2 * FOLD_ENDS_SHOWN} more unchanged paragraphs" in page
    assert "<ins>A clause added at the end.</ins>" in page
    assert 'class="break"' not in page  # a paragraph added at the end, not a split


def test_a_paragraph_inserted_beside_an_edited_one_is_marked_as_inserted_whole():
    old = "Intro.\nThe fee is due on Monday.\nEnd."
    new = "Intro.\nA new clause about parking.\nThe fee is due on Friday.\nEnd."

    blocks, summary = compared(old, new)

    assert marks(blocks) == [(INSERT, "A new clause about parking."), (DELETE, "Monday"), (INSERT, "Friday")]
    assert summary.paragraphs_changed == 2


def test_a_contract_of_40000_words_with_50_scattered_edits_gets_exactly_those_edits():
    old = contract_text()
    new, edits = edited(old, edits=50)

    blocks, summary = compared(old, new)

    expected = []
    for _, before, after in edits:
        expected += [(DELETE, before), (INSERT, after)]
    assert marks(blocks) == expected
    assert (summary.paragraphs_changed, summary.words_added, summary.words_removed) == (50, 50, 50)


def test_everything_changed_is_compared_word_by_word():
    old = contract_text()

    pair = pair_compare(
        side(1, "c", "Contract", text=old),
        side(2, "c", "Contract", text=everything_changed(old)),
        "document id",
        budget=Budget(LATER),
        max_chars=500_000,
    )

    assert pair.kind == COMPARED
    # 13,446 words replaced in 1,031 paragraphs: difflib, one word in three changed, meets a few
    # words of one paragraph with the next one's (one paragraph seen split, another joined).
    assert 1029 <= pair.summary.paragraphs_changed <= 1031
    assert pair.summary.words_added == pair.summary.words_removed
    assert 13446 <= pair.summary.words_added <= 13446 * 1.01


def test_the_contract_on_one_line_with_50_edits_is_compared_not_refused():
    old = contract_text()
    new, edits = edited(old, edits=50)
    old, new = old.replace("\n", " "), new.replace("\n", " ")
    assert len(old) == 281_772

    pair = pair_compare(
        side(1, "c", "C", text=old), side(2, "c", "C", text=new), "", budget=Budget(60), max_chars=500_000
    )

    assert pair.kind == COMPARED
    assert (pair.summary.paragraphs_changed, pair.summary.words_added, pair.summary.words_removed) == (1, 50, 50)


# The budget against crafted pairs: each is stopped by the deadline inside difflib's search, or
# compared in linear time. Which time they take is the bench's (bench/compare.py): here the clock
# is ours (`Clock`), and the deadline passes when a test says so.

POPULAR = [f"w{n:02d}" for n in range(100)]  # 100 values, each just under autojunk's 1% of 120,000


def shuffled(seed: int) -> list[str]:
    values = [POPULAR[n % 100] for n in range(120_000)]
    random.Random(seed).shuffle(values)
    return values


class Clock:
    """A time.monotonic of our own: it stands still until a test moves it (or, with `moves_after`,
    it reads `now + 10` from that many readings on)."""

    def __init__(self, moves_after: int | None = None) -> None:
        self.now = 0.0
        self.readings = 0
        self.moves_after = moves_after

    def __call__(self) -> float:
        self.readings += 1
        moved = self.moves_after is not None and self.readings > self.moves_after
        return self.now + 10 if moved else self.now


@pytest.fixture
def searches(monkeypatch):
    """The longest-match searches run (their a, b ranges and the steps counted before each)."""
    ran = []
    real = _Matcher.find_longest_match

    def counted(self, *args, **kwargs):
        ran.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_Matcher, "find_longest_match", counted)
    return ran


def test_the_longest_match_search_stops_inside_itself_once_the_deadline_passes():
    clock = Clock()
    matcher = _Matcher(shuffled(1), shuffled(2), budget=Budget(2, clock=clock), autojunk=True)
    clock.now = 3.0  # the deadline passes as the search begins; the whole of it is ~144M steps

    with pytest.raises(Timeout):
        matcher.find_longest_match()

    assert STEPS_BETWEEN_CHECKS <= matcher.steps < 2 * STEPS_BETWEEN_CHECKS


@pytest.mark.parametrize("between", ["\n", " "], ids=["120,000 paragraphs", "one paragraph of 120,000 words"])
def test_a_pair_whose_search_passes_the_deadline_is_too_large(between, monkeypatch):
    old, new = between.join(shuffled(1)), between.join(shuffled(2))
    clock = Clock()
    real = _Matcher.find_longest_match

    def late(self, *args, **kwargs):
        clock.now = 3.0  # the deadline passes inside the first search
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_Matcher, "find_longest_match", late)

    pair = pair_compare(
        side(1, "c", "C", text=old), side(2, "c", "C", text=new), "", budget=Budget(2, clock=clock), max_chars=500_000
    )

    assert pair.kind == TOO_LARGE
    assert pair.reason == "Too large to compare within 2 s (old 479,999 characters, new 479,999)."


def test_one_line_changed_among_120000_repeated_ones_is_found_in_linear_work(searches):
    old = ["Yes"] * 120_000
    new = list(old)
    new[60_000] = "No"
    budget = Budget(2)

    pair = pair_compare(
        side(1, "c", "C", text="\n".join(old)),
        side(2, "c", "C", text="\n".join(new)),
        "",
        budget=budget,
        max_chars=500_000,
        unified=True,
    )

    assert pair.kind == COMPARED
    assert marks(pair.blocks) == [(DELETE, "Yes"), (INSERT, "No")]
    assert [len(b.paragraphs) if isinstance(b, Fold) else "changed" for b in pair.blocks] == [60_000, "changed", 59_999]
    assert pair.hunks[0] == "@@ -59998,7 +59998,7 @@"
    assert len(searches) <= 2


def test_spacing_changed_in_every_one_of_80000_lines_is_no_change_on_the_page_and_in_the_export(searches):
    budget = Budget(2)

    pair = pair_compare(
        side(1, "c", "C", text="a,b\n" * 80_000),
        side(2, "c", "C", text="a, b\n" * 80_000),
        "",
        budget=budget,
        max_chars=500_000,
        unified=True,
    )

    assert pair.kind == COMPARED
    assert str(pair.summary) == "No change in the text (spacing aside)."
    assert [len(b.paragraphs) for b in pair.blocks] == [80_000]
    assert pair.hunks == ()
    assert comparison_text([pair], old_name="v1", new_name="v2") == (
        "=== C\nNo change in the text (spacing aside).\n\n"
    )
    assert len(searches) <= 1


def test_a_clause_inserted_at_the_top_of_100_marks_that_clause_and_the_new_numbers_only():
    bodies = [paragraph.split(". ", 1)[1] for paragraph in contract_text(pages=12).split("\n")[:100]]
    assert len(bodies) == 100
    old = "\n".join(f"{n}. {body}" for n, body in enumerate(bodies, start=1))
    new = "\n".join(f"{n}. {body}" for n, body in enumerate(["A new clause about parking.", *bodies], start=1))

    blocks, summary = compared(old, new)

    expected = [(INSERT, "1. A new clause about parking.")]
    for n in range(1, 101):
        expected += [(DELETE, str(n)), (INSERT, str(n + 1))]
    assert marks(blocks) == expected
    assert (summary.paragraphs_changed, summary.words_added, summary.words_removed) == (101, 106, 100)


def test_a_paragraph_split_or_joined_is_a_change_on_the_page_and_in_the_export():
    old = "Intro.\nThe rent is due monthly and the tenant pays it.\nEnd."
    new = "Intro.\nThe rent is due monthly\nand the tenant pays it.\nEnd."

    split = versions_compare(
        [side(1, "c", "C", text=old)], [side(2, "c", "C", text=new)], seconds=LATER, max_chars=1000, unified=True
    )[0]
    joined = versions_compare(
        [side(1, "c", "C", text=new)], [side(2, "c", "C", text=old)], seconds=LATER, max_chars=1000, unified=True
    )[0]

    assert marks(split.blocks) == [(INSERT, PILCROW)]
    assert str(split.summary) == "1 paragraph changed, 0 words added, 0 words removed, 1 split."
    assert marks(joined.blocks) == [(DELETE, PILCROW)]
    assert str(joined.summary) == "1 paragraph changed, 0 words added, 0 words removed, 1 joined."
    assert split.hunks == (
        "@@ -1,3 +1,4 @@",
        " Intro.",
        "-The rent is due monthly and the tenant pays it.",
        "+The rent is due monthly",
        "+and the tenant pays it.",
        " End.",
    )


def test_a_name_with_a_line_break_cannot_start_a_line_of_the_export():
    pairs = versions_compare(
        [side(1, "c", "Lease\n=== Forged\n+++ x", text="One.")],
        [side(2, "c", "Lease\n=== Forged\n+++ x", text="Two.")],
        seconds=LATER,
        max_chars=1000,
        unified=True,
    )

    lines = comparison_text(pairs, old_name="v1", new_name="v2").splitlines()

    assert [line for line in lines if line.startswith("===")] == ["=== Lease === Forged +++ x"]
    assert [line for line in lines if line.startswith("+++")] == ["+++ v2/Lease === Forged +++ x"]


def test_a_pair_past_the_time_budget_says_it_is_too_large_with_its_sizes():
    old, new = side(1, "c", "Contract", text="a b c\nd e f"), side(2, "c", "Contract", text="a b x\nd e g")

    # The budget is made (one reading) and the pair begins (another): its deadline passes after.
    pair = pair_compare(old, new, "document id", budget=Budget(2, clock=Clock(moves_after=2)), max_chars=1000)

    assert pair.kind == TOO_LARGE
    assert pair.reason == "Too large to compare within 2 s (old 11 characters, new 11)."


def test_a_small_pair_after_a_large_one_spent_the_time_says_the_pages_time_ran_out_and_is_not_read():
    clock = Clock()
    read = []

    def texts_read(keys):
        read.append(sorted(keys))
        clock.now += 1.5  # each read (and its comparison) takes the time this test says
        return {key: f"Text {key} of the pair." for key in keys}

    pairs = versions_compare(
        [
            side(1, "a", "Large", text=None, length=300),
            side(2, "b", "Small", text=None, length=20),
            side(3, "c", "Middle", text=None, length=100),
        ],
        [
            side(11, "a", "Large", text=None, length=300),
            side(12, "b", "Small", text=None, length=20),
            side(13, "c", "Middle", text=None, length=100),
        ],
        seconds=2,
        max_chars=1000,
        texts_read=texts_read,
        budget=Budget(2, clock=clock),
    )

    assert read == [[2, 12], [3, 13]]  # smallest first; the largest's texts never read
    assert [pair.kind for pair in pairs] == [OUT_OF_TIME, COMPARED, OUT_OF_TIME]
    assert pairs[0].reason == (
        "The page's 2 s to compare ran out on the documents compared before this one (old 300 characters, "
        "new 300): compare it alone from its versions' documents, or use the plain text."
    )
    assert pairs[2].reason.startswith("The page's 2 s to compare ran out")


def test_a_pair_past_the_length_cap_is_not_compared():
    old, new = side(1, "c", "Contract", text="x" * 101), side(2, "c", "Contract", text="y")

    pair = versions_compare([old], [new], seconds=LATER, max_chars=100)[0]

    assert pair.kind == TOO_LARGE
    assert pair.reason == "Too large to compare: more than 100 characters (old 101 characters, new 1)."


def test_the_plain_text_export_is_a_unified_diff_of_the_paragraphs():
    pairs = versions_compare(
        [side(1, "c", "Contract", text="One.\nTwo.\nThree."), side(2, "g", "Gone")],
        [side(11, "c", "Contract", text="One.\nTwo, amended.\nThree.")],
        seconds=LATER,
        max_chars=1000,
        unified=True,
    )

    assert comparison_text(pairs, old_name="v1", new_name="v2") == (
        "=== Contract\n"
        "1 paragraph changed, 1 word added, 0 words removed, 1 punctuation mark added, 0 removed.\n"
        "--- v1/Contract\n"
        "+++ v2/Contract\n"
        "@@ -1,3 +1,3 @@\n"
        " One.\n"
        "-Two.\n"
        "+Two, amended.\n"
        " Three.\n"
        "\n"
        "=== Gone\n"
        "Removed in v2 (was in v1).\n"
        "\n"
    )


@pytest.mark.parametrize(
    "query",
    [
        "a=abc",
        "a=-1",
        "a=%2B1",
        "a=%201",
        "a=1e3",
        "a=0",
        "a=1&a=2",
        "b=1.5",
        "a=%EF%BC%91",  # a fullwidth 1
        "a=%D9%A1",  # an Arabic-Indic 1
        "b=%C2%B2",  # a superscript 2
        "b=99999999999999999999",
        "b=" + "9" * 5000,  # past int()'s 4,300 digits: a 400, not a ValueError
        "a=3&b=3",
    ],
)
def test_a_bad_version_in_the_query_is_a_bad_request(query):
    with pytest.raises(BadRequest):
        compare_query_parse(QueryDict(query))


class Version:
    def __init__(self, pk: int):
        self.pk = pk


def test_an_older_version_alone_is_compared_with_the_one_after_it_and_the_newest_alone_is_a_bad_request():
    v3, v2, v1 = versions = [Version(3), Version(2), Version(1)]  # newest first

    assert versions_chosen(CompareQuery(old=1, new=None), versions) == (v1, v2)
    assert versions_chosen(CompareQuery(old=2, new=None), versions) == (v2, v3)
    assert versions_chosen(CompareQuery(old=None, new=None), versions) == (v2, v3)
    assert versions_chosen(CompareQuery(old=None, new=1), versions) == (None, v1)
    with pytest.raises(BadRequest, match="The version chosen is the newest"):
        versions_chosen(CompareQuery(old=3, new=None), versions)


# The admin, through real documents ----------------------------------------------------------

CONTRACT_V1 = [
    "Lease of 12 Hawthorne Road",
    "1. The landlord lets the flat to the tenant for two years.",
    "2. The rent is 1,200 pounds a month, paid on the first day.",
    "3. The tenant keeps the garden tidy.",
    "4. Either party may end the lease with two months' notice.",
]
CONTRACT_V2 = [
    "Lease of 12 Hawthorne Road",
    "1. The landlord lets the flat to the tenant for three years.",
    "2. The rent is 1,250 pounds a month, paid on the first day.",
    "3. The tenant keeps the garden tidy.",
    "4. Either party may end the lease with two months' notice.",
]
SCHEDULE_V1 = ["Schedule of contents", "Sofa, grey", "Table, oak", "Lamp <script>alert(1)</script>"]
SCHEDULE_V2 = ["Schedule of contents", "Sofa, grey", "Table, walnut", "Lamp <script>alert(1)</script>"]


def version_of(source, version_id: str, when, documents: list[tuple[str, str, bytes, str]]):
    made = []
    for document_id, name, content, kind in documents:
        made.append(
            document_make(
                source,
                work_item_name="Lease – 12 Hawthorne Road",
                version_id=version_id,
                document_id=document_id,
                name=name,
                content=content,
                content_type=DOCX_TYPE if kind == "docx" else "application/pdf",
                extension=kind,
                completed_at=when,
            )
        )
    for document in made:
        assert document_text_extract(document_id=document.pk) in (
            DocumentText.Status.EXTRACTED,
            DocumentText.Status.FAILED,
        )
    return made[0].version


def two_versions(source):
    now = timezone.now()
    annex = docx_paragraphs_bytes(["Annex: the same in both versions."])
    old = version_of(
        source,
        "v1",
        now - timedelta(days=3),
        [
            ("contract", "Lease", docx_paragraphs_bytes(CONTRACT_V1), "docx"),
            ("schedule", "Schedule", pdf_lines_bytes(SCHEDULE_V1), "pdf"),
            ("annex", "Annex", annex, "docx"),
            ("scan", "Signed copy", pdf_without_text_bytes(), "pdf"),
            ("letter", "Cover letter", docx_paragraphs_bytes(["Dear tenant."]), "docx"),
        ],
    )
    new = version_of(
        source,
        "v2",
        now - timedelta(days=1),
        [
            ("contract", "Lease", docx_paragraphs_bytes(CONTRACT_V2), "docx"),
            ("schedule-2", "Schedule", pdf_lines_bytes(SCHEDULE_V2), "pdf"),  # a new id: paired by name
            ("annex", "Annex", annex, "docx"),
            ("scan", "Signed copy", pdf_lines_bytes(["Signed by both parties."]), "pdf"),
            ("map", "Site map", docx_paragraphs_bytes(["North is up."]), "docx"),
        ],
    )
    return old, new


def compare_url(work_item, *, text: bool = False) -> str:
    name = "admin:documents_workitem_compare_text" if text else "admin:documents_workitem_compare"
    return reverse(name, args=[work_item.pk])


@pytest.mark.django_db
def test_the_comparison_page_shows_the_redline_of_real_docx_and_pdf_documents(bucket, source, admin_client):
    old, new = two_versions(source)
    work_item = new.work_item

    page = admin_client.get(compare_url(work_item))

    assert page.status_code == 200
    html = page.content.decode()
    _, contract, schedule = page.context["pairs"][:3]
    # In the new version's order (by name), then what it removed.
    assert [(p.label, p.kind, p.paired_by) for p, _ in page.context["pairs"]] == [
        ("Annex", IDENTICAL, "document id"),
        ("Lease", COMPARED, "document id"),
        ("Schedule", COMPARED, "name"),
        ("Signed copy", UNAVAILABLE, "document id"),
        ("Site map", ADDED, ""),
        ("Cover letter", REMOVED, ""),
    ]
    assert marks(contract[0].blocks) == [(DELETE, "two"), (INSERT, "three"), (DELETE, "1,200"), (INSERT, "1,250")]
    assert marks(schedule[0].blocks) == [(DELETE, "oak"), (INSERT, "walnut")]
    assert "for <del>two</del> <ins>three</ins> years." in html
    assert "<del>oak</del> <ins>walnut</ins>" in html
    assert "2 paragraphs changed, 2 words added, 2 words removed." in html
    # The contract's title, then its clauses 3 and 4, folded.
    assert [len(b.paragraphs) for b in contract[0].blocks if isinstance(b, Fold)] == [1, 2]
    assert "<summary>2 unchanged paragraphs</summary>" in html
    assert "Identical: the same bytes (SHA-256) in both versions." in html
    assert "old: text extraction failed: No text layer (a scanned image?)" in html
    assert "Added in v2." in html and "Removed in v2 (was in v1)." in html
    # A document's text is shown, never run.
    assert "<script>alert(1)</script>" not in html
    assert "Lamp &lt;script&gt;alert(1)&lt;/script&gt;" in html
    record = AccessRecord.objects.get(action=AccessRecord.Action.COMPARE)
    assert (record.status, record.source_id, record.count) == (200, source.pk, 10)
    assert record.query.startswith("work item wi-1: version v1 against v2 (selected: ")
    assert record.detail == "page: 6 pairs, 2 compared"


@pytest.mark.django_db
def test_the_plain_text_export_and_the_shareable_link_name_the_versions_chosen(bucket, source, admin_client):
    old, new = two_versions(source)
    work_item = new.work_item
    chosen = f"?a={old.pk}&b={new.pk}"

    page = admin_client.get(compare_url(work_item) + chosen).content.decode()
    export = admin_client.get(compare_url(work_item, text=True) + chosen)

    assert f'value="http://testserver{compare_url(work_item)}?a={old.pk}&amp;b={new.pk}"' in page
    assert export.status_code == 200
    assert export["Content-Type"] == "text/plain; charset=utf-8"
    assert "attachment" in export["Content-Disposition"]
    text = export.content.decode()
    assert "-1. The landlord lets the flat to the tenant for two years.\n" in text
    assert "+1. The landlord lets the flat to the tenant for three years.\n" in text
    assert "-Table, oak\n+Table, walnut\n" in text
    assert "=== Annex\nIdentical (the same bytes, SHA-256).\n" in text
    assert AccessRecord.objects.filter(action=AccessRecord.Action.COMPARE, detail__startswith="plain text").count() == 1


@pytest.mark.django_db
def test_the_versions_swapped_show_the_edits_the_other_way(bucket, source, admin_client):
    old, new = two_versions(source)

    page = admin_client.get(compare_url(new.work_item) + f"?a={new.pk}&b={old.pk}")

    contract = next(pair for pair, _ in page.context["pairs"] if pair.label == "Lease")
    assert marks(contract.blocks) == [(DELETE, "three"), (INSERT, "two"), (DELETE, "1,250"), (INSERT, "1,200")]


@pytest.mark.django_db
def test_a_version_of_another_work_item_is_not_found_and_a_bad_value_is_a_400(source, admin_client):
    document_make(source, version_id="v1", completed_at=timezone.now() - timedelta(days=2))
    version = document_make(source, version_id="v2", document_id="d2").version
    other = document_make(source, work_item_id="wi-2", version_id="v9").version

    assert admin_client.get(compare_url(version.work_item) + f"?a={other.pk}").status_code == 404
    bad = admin_client.get(compare_url(version.work_item) + "?a=1%3Cscript%3E")
    assert bad.status_code == 400
    assert bad.content.decode() == "'a' must be the key of one of the work item's versions."
    assert admin_client.get(compare_url(version.work_item) + f"?b={version.pk}").status_code == 200


@pytest.mark.django_db
def test_the_work_item_page_offers_compare_versions_once_it_has_two(source, admin_client):
    document = document_make(source, version_id="v1")
    change = reverse("admin:documents_workitem_change", args=[document.version.work_item_id])
    assert "Compare versions" not in admin_client.get(change).content.decode()

    document_make(source, version_id="v2", document_id="d2")

    assert f'href="{compare_url(document.version.work_item)}"' in admin_client.get(change).content.decode()


def staff(username: str) -> Client:
    user = get_user_model().objects.create_user(username, password="x", is_staff=True)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client, user


@pytest.mark.django_db
def test_a_user_of_another_source_gets_404_and_one_without_view_403_and_each_is_recorded(
    source, other_source, admin_client
):
    document_make(source, version_id="v1", completed_at=timezone.now() - timedelta(days=2))
    document_make(source, version_id="v2", document_id="d2")
    document_make(other_source, work_item_id="wi-o", version_id="v1")
    work_item = WorkItem.objects.get(source=source)
    ann, user = staff("ann")
    source_access_grant(source=other_source, user=user, level=SourceAccess.Level.VIEW)
    nobody, _ = staff("nobody")

    assert ann.get(compare_url(work_item)).status_code == 404
    assert ann.get(compare_url(work_item, text=True)).status_code == 404
    assert ann.get(compare_url(work_item) + "?a=x").status_code == 400  # nothing looked up
    assert nobody.get(compare_url(work_item)).status_code == 403
    assert nobody.get(compare_url(work_item) + "?a=x").status_code == 403

    source_access_grant(source=source, user=user, level=SourceAccess.Level.VIEW)
    assert ann.get(compare_url(work_item)).status_code == 200
    records = AccessRecord.objects.filter(action=AccessRecord.Action.COMPARE).order_by("pk")
    assert [(r.username, r.status) for r in records] == [
        ("ann", 404),
        ("ann", 404),
        ("ann", 400),
        ("nobody", 403),
        ("nobody", 403),
        ("ann", 200),
    ]


@pytest.mark.django_db
def test_a_refusal_is_recorded_with_the_work_item_asked_for_and_the_query(source, other_source):
    document_make(source, version_id="v1", completed_at=timezone.now() - timedelta(days=2))
    document_make(source, version_id="v2", document_id="d2")
    work_item = WorkItem.objects.get(source=source)
    ann, user = staff("ann")
    source_access_grant(source=other_source, user=user, level=SourceAccess.Level.VIEW)
    nobody, _ = staff("nobody")

    assert ann.get(compare_url(work_item) + "?a=2").status_code == 404
    assert ann.get(compare_url(work_item) + "?a=x").status_code == 400
    assert nobody.get(compare_url(work_item, text=True) + "?a=1&b=2").status_code == 403

    records = AccessRecord.objects.filter(action=AccessRecord.Action.COMPARE).order_by("pk")
    assert [(r.status, r.query) for r in records] == [
        (404, f"work item {work_item.pk} (a=2)"),
        (400, f"work item {work_item.pk} (a=x)"),
        (403, f"work item {work_item.pk} (a=1&b=2)"),
    ]


@pytest.mark.django_db
def test_a_user_who_may_view_work_items_but_not_documents_may_not_compare_their_texts(source):
    document_make(source, version_id="v1", completed_at=timezone.now() - timedelta(days=2))
    document_make(source, version_id="v2", document_id="d2")
    work_item = WorkItem.objects.get(source=source)
    client, user = staff("wendy")
    user.user_permissions.add(Permission.objects.get(codename="view_workitem", content_type__app_label="documents"))

    refused = client.get(compare_url(work_item))
    refused_text = client.get(compare_url(work_item, text=True))
    user.user_permissions.add(Permission.objects.get(codename="view_document", content_type__app_label="documents"))
    user = get_user_model().objects.get(pk=user.pk)  # its permissions read again
    client.force_login(user)

    assert (refused.status_code, refused_text.status_code) == (403, 403)
    assert client.get(compare_url(work_item)).status_code == 200


@pytest.mark.django_db
def test_the_newest_version_as_the_older_one_is_a_400_and_the_oldest_as_the_newer_one_says_so(source, admin_client):
    first = document_make(source, version_id="v1", completed_at=timezone.now() - timedelta(days=2)).version
    newest = document_make(source, version_id="v2", document_id="d2").version
    work_item = newest.work_item

    alone = admin_client.get(compare_url(work_item) + f"?a={newest.pk}")
    oldest_newer = admin_client.get(compare_url(work_item, text=True) + f"?b={first.pk}")
    older_alone = admin_client.get(compare_url(work_item) + f"?a={first.pk}")

    assert alone.status_code == 400
    assert alone.content.decode() == "The version chosen is the newest: choose a newer one ('b') to compare it with."
    assert oldest_newer.status_code == 200
    assert "no version is older than v1" in oldest_newer.content.decode()
    assert (older_alone.context["old"], older_alone.context["new"]) == (first, newest)


@pytest.mark.django_db
def test_django_view_on_work_items_and_a_grant_on_another_source_cannot_compare_this_sources_texts(
    source, other_source
):
    document_make(source, version_id="v1", completed_at=timezone.now() - timedelta(days=2))
    document_make(source, version_id="v2", document_id="d2")
    work_item = WorkItem.objects.get(source=source)
    client, user = staff("vera")
    # Every work item (Django's own permission), and the documents of the other source only.
    user.user_permissions.add(Permission.objects.get(codename="view_workitem", content_type__app_label="documents"))
    source_access_grant(source=other_source, user=user, level=SourceAccess.Level.VIEW)
    assert get_user_model().objects.get(pk=user.pk).has_perm("documents.view_document")

    page = client.get(compare_url(work_item))
    text = client.get(compare_url(work_item, text=True))
    source_access_grant(source=source, user=user, level=SourceAccess.Level.VIEW)

    assert (page.status_code, text.status_code) == (404, 404)
    assert client.get(compare_url(work_item)).status_code == 200
    records = AccessRecord.objects.filter(action=AccessRecord.Action.COMPARE).order_by("pk")
    assert [(r.status, r.document_id) for r in records] == [(404, None), (404, None), (200, None)]


def test_a_join_or_a_split_beside_an_edited_word_is_shown_and_counted():
    joined_blocks, joined = compared("A B\nC D", "A B X D")
    split_blocks, split = compared("A B C D", "A B\nX D")

    assert marks(joined_blocks) == [(DELETE, PILCROW), (DELETE, "C"), (INSERT, "X")]
    assert str(joined) == "1 paragraph changed, 1 word added, 1 word removed, 1 joined."
    assert marks(split_blocks) == [(DELETE, "C"), (INSERT, PILCROW), (INSERT, "X")]
    assert str(split) == "1 paragraph changed, 1 word added, 1 word removed, 1 split."
    assert not any(isinstance(block, Fold) for block in joined_blocks + split_blocks)  # "A B" is not unchanged


def test_a_long_run_of_edited_clauses_with_one_inserted_at_the_top_is_aligned_by_words_not_position():
    bodies = [paragraph.split(". ", 1)[1] for paragraph in contract_text(pages=12).split("\n")[:100]]

    def one_word_changed(body: str) -> str:
        words = body.split(" ")
        words[2] = "CHANGED"
        return " ".join(words)

    old = "\n".join(f"{n}. {body}" for n, body in enumerate(bodies, start=1))
    edited_bodies = ["A new clause about parking.", *map(one_word_changed, bodies)]
    new = "\n".join(f"{n}. {body}" for n, body in enumerate(edited_bodies, start=1))
    assert sum(len(body.split()) for body in bodies) > 2 * 1_500  # past one word pass (RUN_MAX_TOKENS)

    _, summary = compared(old, new)

    # 100 numbers and 100 words changed, and the clause's 5 words (paired by position: thousands).
    assert summary.paragraphs_changed in (100, 101)
    assert 200 <= summary.words_added <= 210
    assert 195 <= summary.words_removed <= 210


def test_accents_composed_or_not_and_invisible_or_bidi_characters_are_no_change():
    _, accents = compared("Café au lait", "Cafe\u0301 au lait")
    _, invisible = compared("the tenant pays", "the\u200b ten\ufeffant \u202epays\u202c")
    blocks, changed = compared("the tenant pays", "the \u202eowner\u202c pays")

    assert str(accents) == str(invisible) == "No change in the text (spacing aside)."
    assert marks(blocks) == [(DELETE, "tenant"), (INSERT, "owner")]


def test_ten_thousand_documents_reversed_are_each_paired_with_their_own():
    old = [side(n, f"d{n}", f"Document {n}") for n in range(10_000)]
    new = [side(10_000 + n, f"d{n}", f"Document {n}") for n in reversed(range(10_000))]
    new[0] = side(30_000, "other", "Document 9999 renamed")

    pairs = documents_pair(old, new)

    assert all(a.advance_id == b.advance_id for a, b, by in pairs[1:10_000])
    assert pairs[0] == (None, new[0], "")
    assert pairs[-1] == (old[9_999], None, "")
    assert len(pairs) == 10_001


def test_a_redline_past_its_parts_to_draw_is_not_drawn_and_punctuation_changes_count(monkeypatch):
    old = "\n".join(f"w{k}." for k in range(10))
    new = "\n".join(f"w{k}," for k in range(10))
    pair = pair_compare(
        side(1, "c", "C", text=old), side(2, "c", "C", text=new), "", budget=Budget(LATER), max_chars=1000
    )

    drawn = str(redline_html(pair))
    monkeypatch.setattr(comparison, "REDLINE_MAX_PARTS", 29)  # 10 paragraphs of 3 parts: w0, "." and ","
    omitted = str(redline_html(pair))

    assert str(pair.summary) == (
        "10 paragraphs changed, 0 words added, 0 words removed, 10 punctuation marks added, 10 removed."
    )
    assert drawn.count("<del>.</del>") == 10 and drawn.count("<ins>,</ins>") == 10
    assert omitted == (
        '<p class="reason redline-omitted">20 changes marked: too many to show here. '
        "The plain text (unified diff) has every change.</p>"
    )
