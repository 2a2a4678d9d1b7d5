"""Helpers shared by the operators' commands: date options and a progress bar."""

import sys
from datetime import datetime, time

from django.core.management.base import CommandError, OutputWrapper
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


def moment(value: str, option: str) -> datetime:
    """A command-line date (YYYY-MM-DD, midnight) or date and time (ISO 8601), aware in TIME_ZONE."""
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"{option}: {value!r} is not a date (YYYY-MM-DD) or a date and time (ISO 8601).")
        parsed = datetime.combine(day, time.min)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def progress_arguments_add(parser) -> None:
    """--progress / --no-progress; neither: a bar on a terminal only."""
    parser.add_argument(
        "--progress", action="store_true", default=None, help="Show a progress bar (default: on a terminal)."
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false")


class ProgressBar:
    """`[#########.........] 120/300 documents` redrawn in place; silent when not enabled (not a TTY)."""

    def __init__(self, total: int, *, label: str, stream=None, enabled: bool | None = None, width: int = 30):
        self.total = total
        self.done = 0
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width

    def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        self.draw()

    def update(self, done: int, total: int) -> None:
        """Redraw at `done` of `total`, for work whose total is known only once it has started."""
        self.total, self.done = total, done
        self.draw()

    def draw(self) -> None:
        if not self.enabled or not self.total:
            return
        filled = round(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        self.write(f"\r[{bar}] {self.done}/{self.total} {self.label}")

    def finish(self) -> None:
        if self.enabled and self.total:
            self.write("\n")

    def write(self, text: str) -> None:
        if isinstance(self.stream, OutputWrapper):
            self.stream.write(text, ending="")  # a command's stderr: no newline added
        else:
            self.stream.write(text)
        self.stream.flush()
