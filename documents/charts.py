"""Charts drawn on the server as inline SVG: no JavaScript library, nothing fetched at run time."""

import math

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .selectors import DayCount

SYNCED_COLOUR = "#2e8540"
FAILED_COLOUR = "#ba2121"


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 times a power of ten that is at least value (at least 4)."""
    value = max(value, 4)
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def daily_bars_svg(days: list[DayCount], *, width: int = 860, height: int = 240) -> SafeString:
    """A grouped bar chart: per day, documents synced (green) and failed or dead (red)."""
    left, right, top, bottom = 40, 8, 26, 30
    plot_width, plot_height = width - left - right, height - top - bottom
    top_value = _nice_ceiling(max([day.synced for day in days] + [day.failed for day in days] + [0]))
    slot = plot_width / max(len(days), 1)
    bar = max(1.0, (slot - 4) / 2)

    def y(value: int) -> float:
        return top + plot_height - plot_height * value / top_value

    def num(value: float) -> str:
        # format_html escapes its arguments into strings: numbers are formatted before.
        return f"{value:.1f}"

    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" stroke-opacity="0.15"/>'
        '<text x="{}" y="{}" text-anchor="end" font-size="12" fill="currentColor" fill-opacity="0.7">{}</text>',
        (
            (left, width - right, num(y(value)), num(y(value)), left - 6, num(y(value) + 4), value)
            for value in (0, top_value // 2, top_value)
        ),
    )
    bars = []
    labels = []
    for index, day in enumerate(days):
        x = left + index * slot + 2
        label = day.day.isoformat()
        for offset, count, colour, what in (
            (0, day.synced, SYNCED_COLOUR, "synced"),
            (bar, day.failed, FAILED_COLOUR, "failed or dead"),
        ):
            if count:
                bars.append(
                    format_html(
                        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>',
                        num(x + offset),
                        num(y(count)),
                        num(bar),
                        num(y(0) - y(count)),
                        colour,
                        label,
                        count,
                        what,
                    )
                )
        if index % 5 == 0 or index == len(days) - 1:
            labels.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle" font-size="12" fill="currentColor" '
                    'fill-opacity="0.7">{}</text>',
                    num(x + bar),
                    height - bottom + 16,
                    day.day.strftime("%b %d").replace(" 0", " "),
                )
            )
    synced_total = sum(day.synced for day in days)
    failed_total = sum(day.failed for day in days)
    legend = format_html(
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
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="operator-chart" viewBox="0 0 {} {}" width="100%" '
        'role="img" aria-label="{}" style="max-width:{}px;height:auto;display:block">'
        "<title>{}</title>{}{}{}{}</svg>",
        width,
        height,
        f"Documents per day over {len(days)} days: {synced_total} synced, {failed_total} failed or dead",
        width,
        f"Documents synced and failed per day, last {len(days)} days",
        grid,
        SafeString("".join(bars)),
        SafeString("".join(labels)),
        legend,
    )
