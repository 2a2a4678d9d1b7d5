"""The texts of the comparison's benchmarks: a contract of about 40,000 words (100 pages), the same
with scattered edits, and the same with every paragraph changed. Seeded: every run compares the
same texts. Free of Django, for bench/compare_libraries.py too."""

import random

VOCABULARY = (
    "the lessee lessor shall pay rent premises agreement term party parties notice clause schedule "
    "landlord tenant property covenant deposit insurance repair maintenance assignment consent "
    "default remedy termination period payment interest costs expenses obligations rights liability "
    "indemnity warranty condition breach dispute arbitration governing law jurisdiction force majeure "
    "confidentiality amendment waiver severability entire counterparts execution date effective "
    "within days after before written reasonable provided that such any all each other this its "
    "and or of to in for by with on at from under upon as may not be is are"
)
WORDS = VOCABULARY.split()
PAGES = 100
WORDS_PER_PAGE = 400


def contract_text(*, seed: int = 7, pages: int = PAGES) -> str:
    """About `pages` * 400 words in numbered clauses of 15 to 60 words, one paragraph a line."""
    rng = random.Random(seed)
    paragraphs, words = [], 0
    clause = 0
    while words < pages * WORDS_PER_PAGE:
        clause += 1
        length = rng.randint(15, 60)
        body = " ".join(rng.choice(WORDS) for _ in range(length))
        paragraphs.append(f"{clause}. {body[0].upper()}{body[1:]}.")
        words += length + 1
    return "\n".join(paragraphs)


def edited(text: str, *, edits: int, seed: int = 11) -> tuple[str, list[tuple[int, str, str]]]:
    """The text with `edits` words replaced in as many paragraphs spread over it; and the edits,
    (paragraph, old word, new word)."""
    rng = random.Random(seed)
    paragraphs = text.split("\n")
    step = len(paragraphs) // edits
    done = []
    for number in range(edits):
        index = number * step + rng.randrange(step)
        words = paragraphs[index].split(" ")
        at = rng.randrange(1, len(words) - 1)
        new = f"amended{number}"
        done.append((index, words[at], new))
        words[at] = new
        paragraphs[index] = " ".join(words)
    return "\n".join(paragraphs), done


def everything_changed(text: str, *, seed: int = 13) -> str:
    """The text with every paragraph changed: one word in three replaced."""
    rng = random.Random(seed)
    paragraphs = []
    for paragraph in text.split("\n"):
        words = paragraph.split(" ")
        paragraphs.append(" ".join(rng.choice(WORDS) if i % 3 == 1 else w for i, w in enumerate(words)))
    return "\n".join(paragraphs)


def rewritten(*, seed: int = 17) -> str:
    """Another contract altogether, of the same length: nothing in common but the vocabulary."""
    return contract_text(seed=seed)
