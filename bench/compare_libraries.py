"""Which diff library the comparison uses, by measurement: Python's difflib (documents/compare.py,
the two passes it makes) against diff-match-patch, on the bench's texts (bench/compare_texts.py).

diff-match-patch is not a dependency of the project; install it beside, to run this:

    .venv/bin/python -m pip install --target /tmp/dmp-measure diff-match-patch
    PYTHONPATH=/tmp/dmp-measure .venv/bin/python bench/compare_libraries.py

Each figure is the median of ROUNDS runs, in ms, with a 2 s budget (the default COMPARE_SECONDS).
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diff_match_patch import diff_match_patch  # noqa: E402

from bench.compare_texts import contract_text, edited, everything_changed, rewritten  # noqa: E402
from documents.compare import INSERT, Budget, Paragraph, Timeout, redline  # noqa: E402

ROUNDS = 5
BUDGET = 2.0


def timed(function) -> tuple[float, object]:
    times, result = [], None
    for _ in range(ROUNDS):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def ours(old: str, new: str):
    try:
        blocks, summary = redline(old, new, budget=Budget(BUDGET))
    except Timeout:
        return "timed out"
    inserted = sum(1 for b in blocks if isinstance(b, Paragraph) for s in b.segments if s.kind == INSERT)
    return f"{summary} ({inserted} insertions)"


def dmp_characters(old: str, new: str):
    """diff-match-patch as documented: by characters, then cleaned up for people."""
    dmp = diff_match_patch()
    dmp.Diff_Timeout = BUDGET
    diffs = dmp.diff_main(old, new)
    dmp.diff_cleanupSemantic(diffs)
    return f"{sum(1 for op, _ in diffs if op == 1)} insertions"


def dmp_two_passes(old: str, new: str):
    """diff-match-patch by paragraphs (its lines mode), then by words within changed runs (the
    same trick: each word encoded as one character)."""
    dmp = diff_match_patch()
    dmp.Diff_Timeout = BUDGET
    a, b, lines = dmp.diff_linesToChars(old, new)
    diffs = dmp.diff_main(a, b, False)
    dmp.diff_charsToLines(diffs, lines)
    insertions = 0
    pending: dict[int, str] = {-1: "", 1: ""}
    for op, text in [*diffs, (0, "")]:
        if op != 0:
            pending[op] += text
            continue
        if pending[-1] or pending[1]:
            words: list[str] = [""]
            index: dict[str, int] = {}

            def encode(text: str, words=words, index=index) -> str:
                out = []
                for word in text.replace("\n", " \n ").split(" "):
                    if word not in index:
                        index[word] = len(words)
                        words.append(word)
                    out.append(chr(index[word]))
                return "".join(out)

            inner = dmp.diff_main(encode(pending[-1]), encode(pending[1]), False)
            insertions += sum(1 for op2, _ in inner if op2 == 1)
            pending = {-1: "", 1: ""}
    return f"{insertions} insertions"


def main() -> None:
    old = contract_text()
    new, edits = edited(old, edits=50)
    cases = {
        f"50 edits in {len(old.split()):,} words": (old, new),
        "every paragraph changed": (old, everything_changed(old)),
        "another text altogether": (old, rewritten()),
    }
    print(f"budget {BUDGET:g} s, median of {ROUNDS} runs, ms")
    for name, (a, b) in cases.items():
        for library, function in (
            ("difflib, paragraphs then words (ours)", ours),
            ("diff-match-patch, characters + cleanupSemantic", dmp_characters),
            ("diff-match-patch, paragraphs then words", dmp_two_passes),
        ):
            ms, result = timed(lambda function=function, a=a, b=b: function(a, b))
            print(f"{name:32} | {library:48} | {ms:8.1f} | {result}")


if __name__ == "__main__":
    main()
