"""Charts drawn on the server as inline SVG: no JavaScript library, nothing fetched at run time."""

import math
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .selectors import DayCount

SYNCED_COLOUR = "#2e8540"
FAILED_COLOUR = "#ba2121"
LABEL_STYLE = 'font-size="12" fill="currentColor" fill-opacity="0.7"'


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 times a power of ten that is at least value (at least 4)."""
    value = max(value, 4)
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _num(value: float) -> str:
    # format_html escapes its arguments into strings: numbers are formatted before.
    return f"{value:.1f}"


@dataclass(frozen=True)
class _Frame:
    """Where the plot sits in the picture, and how counts and days map onto it."""

    width: int
    height: int
    days: int
    top_value: int
    left: int = 40
    right: int = 8
    top: int = 26
    bottom: int = 30

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    @property
    def slot(self) -> float:
        """The width each day takes: its two bars and a gap."""
        return (self.width - self.left - self.right) / max(self.days, 1)

    @property
    def bar(self) -> float:
        return max(1.0, (self.slot - 4) / 2)

    def x(self, index: int) -> float:
        """The left edge of day number index's synced bar."""
        return self.left + index * self.slot + 2

    def y(self, value: int) -> float:
        return self.top + self.plot_height - self.plot_height * value / self.top_value


def _grid(frame: _Frame) -> SafeString:
    """Three horizontal lines (0, half, top) with their values on the left."""
    rows = []
    for value in (0, frame.top_value // 2, frame.top_value):
        y = frame.y(value)
        rows.append((frame.left, frame.width - frame.right, _num(y), _num(y), frame.left - 6, _num(y + 4), value))
    return format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" stroke-opacity="0.15"/>'
        '<text x="{}" y="{}" text-anchor="end" ' + LABEL_STYLE + ">{}</text>",
        rows,
    )


def _day_bars(frame: _Frame, index: int, day: DayCount) -> list[SafeString]:
    """A day's synced and failed bars, each with its count in a tooltip; none for a zero."""
    bars = []
    for offset, count, colour, what in (
        (0, day.synced, SYNCED_COLOUR, "synced"),
        (frame.bar, day.failed, FAILED_COLOUR, "failed or dead"),
    ):
        if count:
            bars.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>',
                    _num(frame.x(index) + offset),
                    _num(frame.y(count)),
                    _num(frame.bar),
                    _num(frame.y(0) - frame.y(count)),
                    colour,
                    day.day.isoformat(),
                    count,
                    what,
                )
            )
    return bars


def _day_label(frame: _Frame, index: int, day: DayCount) -> SafeString:
    """The date under a day's bars: "Mar 1"."""
    return format_html(
        '<text x="{}" y="{}" text-anchor="middle" ' + LABEL_STYLE + ">{}</text>",
        _num(frame.x(index) + frame.bar),
        frame.height - frame.bottom + 16,
        day.day.strftime("%b %d").replace(" 0", " "),
    )


def _legend(frame: _Frame, synced_total: int, failed_total: int) -> SafeString:
    left = frame.left
    return format_html(
        '<rect x="{}" y="6" width="10" height="10" fill="{}"/>'
        '<text x="{}" y="15" font-size="12" fill="currentColor">synced ({})</text>'
        '<rect x="{}" y="6" width="10" height="10" fill="{}"/>'
        '<text x="{}" y="15" font-size="12" fill="currentColor">failed or dead ({})</text>',
        left,
        SYNCED_COLOUR,
        left + 14,
        synced_total,
        left + 130,
        FAILED_COLOUR,
        left + 144,
        failed_total,
    )


def daily_bars_svg(days: list[DayCount], *, width: int = 860, height: int = 240) -> SafeString:
    """A grouped bar chart: per day, documents synced (green) and failed or dead (red)."""
    top_value = _nice_ceiling(max([day.synced for day in days] + [day.failed for day in days] + [0]))
    frame = _Frame(width=width, height=height, days=len(days), top_value=top_value)
    bars = [bar for index, day in enumerate(days) for bar in _day_bars(frame, index, day)]
    # A date every fifth day, and the last day's.
    labels = [
        _day_label(frame, index, day) for index, day in enumerate(days) if index % 5 == 0 or index == len(days) - 1
    ]
    synced_total = sum(day.synced for day in days)
    failed_total = sum(day.failed for day in days)
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="operator-chart" viewBox="0 0 {} {}" width="100%" '
        'role="img" aria-label="{}" style="max-width:{}px;height:auto;display:block">'
        "<title>{}</title>{}{}{}{}</svg>",
        width,
        height,
        f"Documents per day over {len(days)} days: {synced_total} synced, {failed_total} failed or dead",
        width,
        f"Documents synced and failed per day, last {len(days)} days",
        _grid(frame),
        SafeString("".join(bars)),
        SafeString("".join(labels)),
        _legend(frame, synced_total, failed_total),
    )
