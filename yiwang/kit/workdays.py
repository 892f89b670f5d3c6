"""Working days (工作日): statutory holidays, make-up days and local closures.

Every deadline the platform states in 工作日 (answering a sharing request, a
data objection, a promised service limit) is computed here. The statutory
calendar comes from the ``chinese_calendar`` package (holidays and 调休 make-up
working days as published each year by the State Council); on top of it the
operator may declare extra closures (a typhoon day) and extra working days (a
make-up day published after the package was released) through the settings
``YIWANG_CALENDAR_EXTRA_CLOSURES`` and ``YIWANG_CALENDAR_EXTRA_WORKDAYS``.

A year the package does not know is refused with :class:`CalendarUnknownYear`
rather than guessed: a deadline silently computed without the Spring Festival
would be wrong by a week. As soon as the operator configures any extra date in
such a year, the year counts as known: weekends are rest days except the
configured working days, and the configured closures are rest days.

Convention (as for the time limits of 《行政许可法》, which exclude statutory
holidays): a limit of *n* working days is counted from the next working day
after the start date, so a request received on Friday with a limit of one
working day is due on Monday.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Iterable
from datetime import MAXYEAR, date, datetime, timedelta, timezone

import chinese_calendar

from yiwang.kit.errors import ConfigurationError, InvalidInput, PlatformError

log = logging.getLogger(__name__)

__all__ = [
    "BEIJING",
    "CalendarUnknownYear",
    "WorkCalendar",
    "add_working_days",
    "beijing_today",
    "deadline",
    "deadline_or_estimate",
    "default_calendar",
    "is_working_day",
    "next_working_day",
    "working_days_between",
]


class CalendarUnknownYear(PlatformError):
    """The working-day calendar has no data for a year a computation needs."""

    code = "calendar_unknown_year"
    status = 422

    def __init__(self, year: int) -> None:
        super().__init__(
            f"工作日历缺少{year}年的法定节假日数据，无法计算工作日。"
            f"运维人员可通过 YIWANG_CALENDAR_EXTRA_CLOSURES（放假日期）和 "
            f"YIWANG_CALENDAR_EXTRA_WORKDAYS（调休上班日期）配置{year}年的节假日安排，"
            "或升级 chinesecalendar 软件包。",
            details={"year": year},
        )
        self.year = year


BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


def seconds_to_beijing_midnight() -> int:
    """Seconds until the next Beijing day starts (at least 1): a daily limit's ``Retry-After``."""
    now = datetime.now(BEIJING)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), BEIJING)
    return max(1, int((midnight - now).total_seconds()))


def beijing_today() -> date:
    """Today in Beijing: the day deadlines, validity and daily quotas are counted in."""
    return datetime.now(BEIJING).date()


def _as_date(value: date | datetime) -> date:
    # datetime is a subclass of date; its time of day plays no part in 工作日.
    return value.date() if isinstance(value, datetime) else value


def _statutory_year_known(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


class WorkCalendar:
    """The working days of the statutory calendar plus the operator's overrides.

    Each year is computed once, on first use, into a sorted tuple of working
    days (as ordinals), so that every query is a binary search, however many
    days it spans.
    """

    def __init__(
        self,
        extra_closures: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
    ) -> None:
        self.extra_closures: frozenset[date] = frozenset(extra_closures)
        self.extra_workdays: frozenset[date] = frozenset(extra_workdays)
        both = self.extra_closures & self.extra_workdays
        if both:
            days = ", ".join(sorted(d.isoformat() for d in both))
            raise ConfigurationError(
                f"工作日历配置冲突：{days} 同时被配置为放假日期和上班日期",
                details={"dates": sorted(d.isoformat() for d in both)},
            )
        self._configured_years = {d.year for d in self.extra_closures | self.extra_workdays}
        self._years: dict[int, tuple[int, ...]] = {}
        self._lock = threading.Lock()

    def is_known_year(self, year: int) -> bool:
        """True when working days of ``year`` can be computed (statutory data or configuration)."""
        return year in self._configured_years or (1 <= year <= MAXYEAR and _statutory_year_known(year))

    def _year(self, year: int) -> tuple[int, ...]:
        """The sorted ordinals of the working days of ``year``."""
        days = self._years.get(year)
        if days is not None:
            return days
        with self._lock:
            days = self._years.get(year)
            if days is None:
                days = self._compute_year(year)
                self._years[year] = days
        return days

    def _compute_year(self, year: int) -> tuple[int, ...]:
        if not 1 <= year <= MAXYEAR:
            raise CalendarUnknownYear(year)
        statutory = _statutory_year_known(year)
        if not statutory and year not in self._configured_years:
            raise CalendarUnknownYear(year)
        first = date(year, 1, 1)
        result = []
        for offset in range((date(year, 12, 31) - first).days + 1):
            day = first + timedelta(days=offset)
            if day in self.extra_workdays:
                working = True
            elif day in self.extra_closures:
                working = False
            elif statutory:
                working = chinese_calendar.is_workday(day)
            else:
                working = day.weekday() < 5
            if working:
                result.append(day.toordinal())
        return tuple(result)

    def is_working_day(self, day: date | datetime) -> bool:
        """True when ``day`` is a working day."""
        d = _as_date(day)
        days = self._year(d.year)
        i = bisect.bisect_left(days, d.toordinal())
        return i < len(days) and days[i] == d.toordinal()

    def add_working_days(self, start: date | datetime, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself never counts).

        ``add_working_days(friday, 1)`` is the next Monday (or later if Monday
        is a holiday); ``n == 0`` returns ``start`` unchanged. Negative ``n`` is
        refused: counting backwards has no use in the platform's rules and
        would invite off-by-one errors.
        """
        if n < 0:
            raise InvalidInput(
                f"工作日数不能为负数（{n}）", code="invalid_working_days", details={"working_days": n}
            )
        d = _as_date(start)
        if n == 0:
            return d
        year, after = d.year, d.toordinal()
        remaining = n
        while True:
            days = self._year(year)
            pos = bisect.bisect_right(days, after)
            available = len(days) - pos
            if remaining <= available:
                return date.fromordinal(days[pos + remaining - 1])
            remaining -= available
            year += 1

    def next_working_day(self, day: date | datetime) -> date:
        """The first working day strictly after ``day``."""
        return self.add_working_days(day, 1)

    def working_days_between(self, start: date | datetime, end: date | datetime) -> int:
        """The number of working days in (``start``, ``end``]: after start, up to and including end.

        So ``working_days_between(s, add_working_days(s, n)) == n``. When
        ``end`` is before ``start`` the result is minus the count of working
        days in (``end``, ``start``], which makes the function antisymmetric:
        a negative value says by how many working days a deadline was missed.
        """
        s, e = _as_date(start), _as_date(end)
        if e < s:
            return -self.working_days_between(e, s)
        count = 0
        for year in range(s.year, e.year + 1):
            days = self._year(year)
            count += bisect.bisect_right(days, e.toordinal()) - bisect.bisect_right(days, s.toordinal())
        return count

    def deadline(self, start: date | datetime, working_days: int) -> date:
        """The due date of a time limit of ``working_days`` 工作日 starting at ``start``.

        Counting starts on the next working day after ``start`` (the day of
        receipt does not count, whatever its time). A limit of 0 (即办, same
        day) is due on ``start`` if that is a working day, else on the next one.
        """
        d = _as_date(start)
        if working_days == 0 and not self.is_working_day(d):
            return self.next_working_day(d)
        return self.add_working_days(d, working_days)


def _parse_dates(values: Iterable[str], setting: str) -> set[date]:
    result = set()
    for value in values:
        try:
            result.add(date.fromisoformat(value.strip()))
        except (ValueError, AttributeError):
            raise ConfigurationError(
                f"配置项 {setting} 含无效日期 {value!r}，应为 YYYY-MM-DD",
                details={"setting": setting, "value": str(value)},
            ) from None
    return result


_default: tuple[tuple[tuple[str, ...], tuple[str, ...]], WorkCalendar] | None = None
_default_lock = threading.Lock()


def default_calendar() -> WorkCalendar:
    """The calendar of the current settings (rebuilt only when the configured dates change)."""
    global _default
    # Imported here so that importing the kit does not read the settings.
    from yiwang.config import get_settings

    settings = get_settings()
    key = (tuple(settings.calendar_extra_closures), tuple(settings.calendar_extra_workdays))
    current = _default
    if current is not None and current[0] == key:
        return current[1]
    with _default_lock:
        calendar = WorkCalendar(
            _parse_dates(key[0], "YIWANG_CALENDAR_EXTRA_CLOSURES"),
            _parse_dates(key[1], "YIWANG_CALENDAR_EXTRA_WORKDAYS"),
        )
        _default = (key, calendar)
    return calendar


def is_working_day(day: date | datetime) -> bool:
    """True when ``day`` is a working day (see :meth:`WorkCalendar.is_working_day`)."""
    return default_calendar().is_working_day(day)


def add_working_days(start: date | datetime, n: int) -> date:
    """The ``n``-th working day after ``start`` (see :meth:`WorkCalendar.add_working_days`)."""
    return default_calendar().add_working_days(start, n)


def next_working_day(day: date | datetime) -> date:
    """The first working day after ``day``."""
    return default_calendar().next_working_day(day)


def working_days_between(start: date | datetime, end: date | datetime) -> int:
    """Working days in (``start``, ``end``], negative when ``end < start``."""
    return default_calendar().working_days_between(start, end)


def deadline_or_estimate(start: date | datetime, working_days: int) -> date:
    """:func:`deadline`, or — when the calendar does not know a year yet (next year's holidays are
    published each November) — the date counting weekends only, with a warning logged. For time
    limits that must be set now rather than refused; operators add the new year's holidays with
    ``YIWANG_CALENDAR_EXTRA_CLOSURES`` / ``_WORKDAYS``."""
    try:
        return deadline(start, working_days)
    except CalendarUnknownYear as unknown:
        log.warning("working-day calendar lacks %s; counting weekends only", unknown.year)
        day, left = _as_date(start), working_days
        while left > 0:
            day += timedelta(days=1)
            left -= day.weekday() < 5
        return day


def deadline(start: date | datetime, working_days: int) -> date:
    """The due date of ``working_days`` 工作日 from ``start`` (see :meth:`WorkCalendar.deadline`)."""
    return default_calendar().deadline(start, working_days)
