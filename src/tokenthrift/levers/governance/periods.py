"""Budget periods, aligned to the calendar in the configured time zone.

``day`` starts at local midnight, ``week`` on Monday at local midnight (ISO weeks),
``month`` on the 1st at local midnight; ``total`` never resets. Boundaries are computed
on local calendar dates and converted to instants with zoneinfo, so a day that has 23 or
25 hours across a DST change is still exactly one budget day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Period = Literal["day", "week", "month", "total"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "total")


@dataclass(frozen=True, slots=True)
class Window:
    """One period of a budget: ``[start, end)`` in unix seconds; ``end`` None = never."""

    period: Period
    start: float
    end: float | None
    tag: str  # stable name of this period, e.g. "2026-11" (part of counter keys)

    def seconds_left(self, now: float) -> float | None:
        return None if self.end is None else max(0.0, self.end - now)

    def end_iso(self, zone: ZoneInfo) -> str | None:
        return None if self.end is None else iso(self.end, zone)

    def start_iso(self, zone: ZoneInfo) -> str:
        return iso(self.start, zone)


def window_at(period: Period, now: float, zone: ZoneInfo) -> Window:
    if period == "total":
        return Window("total", 0.0, None, "total")
    today = datetime.fromtimestamp(now, zone).date()
    if period == "day":
        first, after = today, today + timedelta(days=1)
        tag = first.isoformat()
    elif period == "week":
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
        tag = f"w{first.isoformat()}"
    elif period == "month":
        first = today.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
        tag = first.strftime("%Y-%m")
    else:
        raise ValueError(f"unknown budget period {period!r}")
    return Window(period, _midnight(first, zone), _midnight(after, zone), tag)


class Calendar:
    """The current window of each period, recomputed only when the clock leaves it
    (every request asks; a period changes once a day at most)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._current: dict[Period, Window] = {}

    def window(self, period: Period, now: float) -> Window:
        window = self._current.get(period)
        if window is None or now < window.start or (window.end is not None
                                                     and now >= window.end):
            window = self._current[period] = window_at(period, now, self.zone)
        return window


def _midnight(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tzinfo=zone).timestamp()


def iso(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).isoformat()
