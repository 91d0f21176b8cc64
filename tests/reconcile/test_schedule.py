"""The nightly run is at a local hour of its time zone, daylight saving or not."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from beat_schedule import nightly, zoned_crontab
from worker.celery_app import app
from worker.reconcile import Window


def next_run(schedule: zoned_crontab, last: datetime) -> datetime:
    last_local, delta, _ = schedule.remaining_delta(last)
    return (last_local + delta).astimezone(UTC)


class TestNightlySchedule:
    def test_runs_at_the_local_hour_in_winter_and_summer(self) -> None:
        schedule = nightly("02:30", "Europe/Berlin")
        schedule.app = app

        winter = next_run(schedule, datetime(2026, 12, 3, 1, 30, tzinfo=UTC))
        summer = next_run(schedule, datetime(2026, 7, 3, 0, 30, tzinfo=UTC))

        assert winter == datetime(2026, 12, 4, 1, 30, tzinfo=UTC)
        assert summer == datetime(2026, 7, 4, 0, 30, tzinfo=UTC)

    def test_survives_beats_pickled_schedule_file(self) -> None:
        schedule = pickle.loads(pickle.dumps(nightly("02:30", "Europe/Berlin")))

        assert isinstance(schedule, zoned_crontab)
        assert (schedule.zone, schedule.hour, schedule.minute) == (
            "Europe/Berlin",
            {2},
            {30},
        )


class TestWindow:
    def test_previous_day_is_yesterday_on_the_local_clock(self) -> None:
        # 00:30 in Berlin on 1 July is still 30 June in UTC.
        now = datetime(2026, 6, 30, 22, 30, tzinfo=UTC)

        window = Window.previous_day("Europe/Berlin", now)

        assert window.label == "2026-06-30"
        assert window.start == datetime(2026, 6, 29, 22, 0, tzinfo=UTC)
        assert window.end == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
