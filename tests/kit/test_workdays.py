"""Working days over the statutory calendar, the operator's overrides and unknown years.

Expectations come from the published State Council schedules (checked against
``chinese_calendar``) or from a day-by-day oracle written here, never from the
functions under test.

2026 facts used below (国务院办公厅 notice, as shipped in chinesecalendar 1.11):
- 春节: 2026-02-15 (Sun) .. 02-23 (Mon) off; 02-14 (Sat) and 02-28 (Sat) worked.
- 中秋: 2026-09-25 (Fri) .. 09-27 (Sun) off.
- 国庆: 2026-10-01 (Thu) .. 10-07 (Wed) off; 09-20 (Sun) and 10-10 (Sat) worked.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yiwang.config import reset_settings
from yiwang.kit.errors import ConfigurationError, InvalidInput
from yiwang.kit.workdays import (
    CalendarUnknownYear,
    WorkCalendar,
    add_working_days,
    deadline,
    deadline_or_estimate,
    default_calendar,
    is_working_day,
    next_working_day,
    working_days_between,
)

KNOWN = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 10, 31))
# Starts early enough that 60 working days stay inside the years the calendar knows.
ROOM_FOR_60 = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 9, 30))
# Spans that cross a year end or two, within the known years.
SPANS = st.integers(0, 800)
# Property tests share one calendar: its per-year cache is part of what they test.
SHARED = WorkCalendar()


def oracle_add(start: date, n: int) -> date:
    """Step one day at a time, asking chinese_calendar directly."""
    day = start
    while n > 0:
        day += timedelta(days=1)
        if chinese_calendar.is_workday(day):
            n -= 1
    return day


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar()


class TestIsWorkingDay:
    @pytest.mark.parametrize(
        ("day", "expected"),
        [
            (date(2026, 10, 1), False),  # 国庆
            (date(2026, 10, 7), False),
            (date(2026, 10, 8), True),
            (date(2026, 10, 10), True),  # Saturday make-up day
            (date(2026, 9, 20), True),  # Sunday make-up day
            (date(2026, 10, 11), False),  # plain Sunday
            (date(2026, 2, 16), False),  # 春节, a Monday
            (date(2026, 2, 14), True),  # Saturday make-up day
            (date(2026, 2, 28), True),
        ],
    )
    def test_published_schedule(self, calendar: WorkCalendar, day: date, expected: bool) -> None:
        assert calendar.is_working_day(day) is expected

    @given(KNOWN)
    def test_agrees_with_statutory_calendar(self, day: date) -> None:
        assert SHARED.is_working_day(day) is chinese_calendar.is_workday(day)

    def test_datetime_accepted(self, calendar: WorkCalendar) -> None:
        assert calendar.is_working_day(datetime(2026, 10, 1, 9, 30)) is False
        assert calendar.is_working_day(datetime(2026, 10, 8, 23, 59)) is True

    def test_module_function_uses_statutory_calendar(self) -> None:
        assert is_working_day(date(2026, 10, 10)) is True
        assert is_working_day(date(2026, 10, 5)) is False


class TestAddWorkingDays:
    def test_friday_plus_one_is_monday(self, calendar: WorkCalendar) -> None:
        friday = date(2026, 3, 6)
        assert friday.weekday() == 4
        # Neither that weekend nor Monday is a holiday or make-up day.
        assert chinese_calendar.get_holiday_detail(date(2026, 3, 9)) == (False, None)
        assert calendar.add_working_days(friday, 1) == date(2026, 3, 9)

    def test_zero_is_the_start_itself(self, calendar: WorkCalendar) -> None:
        assert calendar.add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 3)

    def test_negative_refused(self, calendar: WorkCalendar) -> None:
        with pytest.raises(InvalidInput) as info:
            calendar.add_working_days(date(2026, 3, 6), -1)
        assert info.value.code == "invalid_working_days"

    def test_spring_festival(self, calendar: WorkCalendar) -> None:
        # From Fri 02-13: 02-14 (make-up Sat) is 1, then 02-24..02-27 are 2..5.
        assert calendar.add_working_days(date(2026, 2, 13), 5) == date(2026, 2, 27)

    def test_crosses_year_end(self, calendar: WorkCalendar) -> None:
        start = date(2025, 12, 29)
        assert calendar.add_working_days(start, 10) == oracle_add(start, 10)

    @settings(deadline=None)  # the oracle walks day by day
    @given(ROOM_FOR_60, st.integers(0, 60))
    def test_matches_day_by_day_oracle(self, start: date, n: int) -> None:
        assert SHARED.add_working_days(start, n) == oracle_add(start, n)

    def test_module_function(self) -> None:
        assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)


class TestNextWorkingDay:
    def test_skips_national_day(self, calendar: WorkCalendar) -> None:
        assert calendar.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
        assert next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)

    def test_make_up_saturday_follows_friday(self, calendar: WorkCalendar) -> None:
        assert calendar.next_working_day(date(2026, 10, 9)) == date(2026, 10, 10)

    @given(KNOWN)
    def test_is_strictly_after_and_working(self, day: date) -> None:
        nxt = SHARED.next_working_day(day)
        assert nxt > day
        assert chinese_calendar.is_workday(nxt)
        assert not any(
            chinese_calendar.is_workday(day + timedelta(days=i)) for i in range(1, (nxt - day).days)
        )


class TestWorkingDaysBetween:
    def test_across_national_day(self, calendar: WorkCalendar) -> None:
        # (09-28, 10-12]: 09-29, 09-30, 10-08, 10-09, 10-10 (Sat make-up), 10-12.
        assert calendar.working_days_between(date(2026, 9, 28), date(2026, 10, 12)) == 6

    def test_negative_when_end_before_start(self, calendar: WorkCalendar) -> None:
        assert calendar.working_days_between(date(2026, 10, 12), date(2026, 9, 28)) == -6
        assert working_days_between(date(2026, 10, 12), date(2026, 9, 28)) == -6

    def test_same_day_is_zero(self, calendar: WorkCalendar) -> None:
        assert calendar.working_days_between(date(2026, 10, 8), date(2026, 10, 8)) == 0

    @settings(deadline=None)  # the oracle walks up to 800 days per example
    @given(KNOWN, SPANS)
    def test_counts_like_the_oracle(self, lo: date, span: int) -> None:
        hi = min(lo + timedelta(days=span), date(2026, 12, 31))
        expected = sum(
            chinese_calendar.is_workday(lo + timedelta(days=i)) for i in range(1, (hi - lo).days + 1)
        )
        assert SHARED.working_days_between(lo, hi) == expected
        assert SHARED.working_days_between(hi, lo) == -expected

    @given(ROOM_FOR_60, st.integers(1, 60))
    def test_inverse_of_add(self, start: date, n: int) -> None:
        assert SHARED.working_days_between(start, SHARED.add_working_days(start, n)) == n


class TestDeadline:
    def test_ten_days_over_national_day(self, calendar: WorkCalendar) -> None:
        # Counting after Mon 09-28: 09-29 (1), 09-30 (2), 10-01..07 off, 10-08 (3),
        # 10-09 (4), 10-10 make-up Saturday (5), 10-11 Sunday off, 10-12..10-16 (6..10).
        due = calendar.deadline(date(2026, 9, 28), 10)
        assert due == date(2026, 10, 16)
        assert deadline(date(2026, 9, 28), 10) == due

    def test_make_up_day_counts(self) -> None:
        # Without the 10-10 make-up day the same limit would end one working day later.
        plain = WorkCalendar(extra_closures={date(2026, 10, 10)})
        assert plain.deadline(date(2026, 9, 28), 10) == date(2026, 10, 19)

    def test_time_of_receipt_ignored(self, calendar: WorkCalendar) -> None:
        late = datetime(2026, 9, 28, 23, 59)
        assert calendar.deadline(late, 10) == calendar.deadline(date(2026, 9, 28), 10)

    def test_received_on_holiday(self, calendar: WorkCalendar) -> None:
        # Received during 国庆: 10-08 is day 1, 10-09 day 2.
        assert calendar.deadline(date(2026, 10, 3), 2) == date(2026, 10, 9)

    def test_same_day_limit(self, calendar: WorkCalendar) -> None:
        assert calendar.deadline(date(2026, 10, 9), 0) == date(2026, 10, 9)
        assert calendar.deadline(date(2026, 10, 4), 0) == date(2026, 10, 8)

    def test_spring_festival(self, calendar: WorkCalendar) -> None:
        # After Fri 02-13: 02-14 (1), 02-24 (2), 02-25 (3).
        assert calendar.deadline(date(2026, 2, 13), 3) == date(2026, 2, 25)


class TestCalendarUnknownYear:
    def test_year_after_the_data(self, calendar: WorkCalendar) -> None:
        with pytest.raises(CalendarUnknownYear) as info:
            calendar.is_working_day(date(2027, 3, 1))
        err = info.value
        assert (err.code, err.status, err.year) == ("calendar_unknown_year", 422, 2027)
        assert "2027" in err.message
        assert "YIWANG_CALENDAR_EXTRA_CLOSURES" in err.message
        assert "YIWANG_CALENDAR_EXTRA_WORKDAYS" in err.message
        assert err.to_dict()["error"]["details"] == {"year": 2027}

    def test_deadline_or_estimate_counts_weekdays_in_an_unknown_year(self) -> None:
        # 2099 will never be in the package: Monday 2 March 2099 + 10 weekdays = Monday 16 March.
        assert date(2099, 3, 2).weekday() == 0
        assert deadline_or_estimate(date(2099, 3, 2), 10) == date(2099, 3, 16)
        # Where the calendar knows the year, it is the real deadline (国庆 2025 skipped).
        assert deadline_or_estimate(date(2025, 9, 29), 10) == deadline(date(2025, 9, 29), 10)

    def test_year_before_the_data(self, calendar: WorkCalendar) -> None:
        with pytest.raises(CalendarUnknownYear, match="2003"):
            calendar.add_working_days(date(2003, 6, 2), 1)

    def test_deadline_running_into_unknown_year(self, calendar: WorkCalendar) -> None:
        with pytest.raises(CalendarUnknownYear, match="2027"):
            calendar.deadline(date(2026, 12, 20), 30)
        assert calendar.is_known_year(2026)
        assert not calendar.is_known_year(2027)

    def test_configured_dates_make_the_year_known(self) -> None:
        cal = WorkCalendar(
            extra_closures={date(2027, 1, 1), date(2027, 2, 8)},
            extra_workdays={date(2027, 2, 20)},
        )
        assert cal.is_known_year(2027)
        assert date(2027, 1, 1).weekday() == 4
        assert date(2027, 1, 4).weekday() == 0
        assert cal.is_working_day(date(2027, 1, 1)) is False  # configured closure on a Friday
        assert cal.is_working_day(date(2027, 1, 2)) is False  # Saturday
        assert cal.is_working_day(date(2027, 1, 4)) is True  # Monday
        assert cal.is_working_day(date(2027, 2, 20)) is True  # configured Saturday workday
        # 2026-12-31 (Thu) -> 2027-01-04 (Mon), the Friday being closed.
        assert cal.next_working_day(date(2026, 12, 31)) == date(2027, 1, 4)
        with pytest.raises(CalendarUnknownYear, match="2028"):
            cal.is_working_day(date(2028, 1, 3))


class TestConfiguredClosures:
    def test_typhoon_closure_moves_deadline(self) -> None:
        base = WorkCalendar().deadline(date(2026, 9, 28), 10)
        closed = WorkCalendar(extra_closures={date(2026, 10, 9)})
        assert closed.is_working_day(date(2026, 10, 9)) is False
        assert closed.deadline(date(2026, 9, 28), 10) == oracle_add(base, 1)

    def test_extra_workday_on_a_sunday(self) -> None:
        cal = WorkCalendar(extra_workdays={date(2026, 10, 11)})
        assert cal.is_working_day(date(2026, 10, 11)) is True
        assert cal.next_working_day(date(2026, 10, 10)) == date(2026, 10, 11)

    def test_same_date_both_ways_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError, match="2026-10-09"):
            WorkCalendar(extra_closures={date(2026, 10, 9)}, extra_workdays={date(2026, 10, 9)})


class TestDefaultCalendar:
    @pytest.fixture
    def env(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
        reset_settings()
        yield monkeypatch
        reset_settings()

    def test_reads_settings(self, env: pytest.MonkeyPatch) -> None:
        env.setenv("YIWANG_CALENDAR_EXTRA_CLOSURES", '["2026-10-09"]')
        env.setenv("YIWANG_CALENDAR_EXTRA_WORKDAYS", '["2027-01-04"]')
        reset_settings()
        assert is_working_day(date(2026, 10, 9)) is False
        assert is_working_day(date(2027, 1, 4)) is True
        assert default_calendar() is default_calendar()  # built once per configuration

    def test_follows_changed_settings(self, env: pytest.MonkeyPatch) -> None:
        assert is_working_day(date(2026, 10, 9)) is True
        env.setenv("YIWANG_CALENDAR_EXTRA_CLOSURES", '["2026-10-09"]')
        reset_settings()
        assert is_working_day(date(2026, 10, 9)) is False

    def test_bad_date_in_settings(self, env: pytest.MonkeyPatch) -> None:
        env.setenv("YIWANG_CALENDAR_EXTRA_WORKDAYS", '["2026-13-01"]')
        reset_settings()
        with pytest.raises(ConfigurationError, match="YIWANG_CALENDAR_EXTRA_WORKDAYS"):
            default_calendar()
