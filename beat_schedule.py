"""What Celery Beat runs, and when. Run exactly one Beat per deployment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab

from worker.settings import settings_or_exit


class zoned_crontab(crontab):
    """A crontab read on the clock of one time zone, whatever the app's zone is.

    Celery reads a crontab in the app's time zone (UTC here); a nightly run is
    meant at a local hour, which moves against UTC with daylight saving time.
    """

    def __init__(self, *args: Any, zone: str = "UTC", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def now(self) -> datetime:
        return datetime.now(self.tz)

    def __reduce__(self) -> tuple[Any, ...]:
        # Beat pickles its schedule entries: keep the zone, by name.
        return (
            _zoned,
            (
                self._orig_minute,
                self._orig_hour,
                self._orig_day_of_week,
                self._orig_day_of_month,
                self._orig_month_of_year,
                self.zone,
            ),
        )


def _zoned(
    minute: Any, hour: Any, day_of_week: Any, day_of_month: Any, month: Any, zone: str
) -> zoned_crontab:
    return zoned_crontab(minute, hour, day_of_week, day_of_month, month, zone=zone)


def nightly(at: str, tz: str) -> zoned_crontab:
    """A daily crontab at ``at`` (HH:MM) on the clock of time zone ``tz``."""
    hour, _, minute = at.partition(":")
    return zoned_crontab(minute=int(minute), hour=int(hour), zone=tz)


def reconcile_schedule() -> zoned_crontab | timedelta:
    # A malformed time or zone stops Beat with one line naming the setting.
    settings = settings_or_exit("store")
    if settings.reconcile_every:
        # For tests and demos: every few seconds instead of nightly.
        return timedelta(seconds=settings.reconcile_every)
    return nightly(settings.reconcile_at, settings.reconcile_tz)


beat_schedule: dict[str, dict[str, Any]] = {
    # Events stored while Redis was down, or whose worker died, are queued again.
    "sweep-inbox": {
        "task": "revsync.inbox.sweep",
        "schedule": timedelta(minutes=1),
        "options": {"queue": "default", "expires": 55},
    },
    # Yesterday's Stripe activity against Odoo, healed or reported by morning.
    "reconcile-ledger": {
        "task": "revsync.reconcile.run",
        "schedule": reconcile_schedule(),
        "options": {"queue": "reconcile", "expires": 6 * 3600},
    },
    # Billing health whose push was never queued (broker down after an event).
    "sweep-writeback": {
        "task": "revsync.writeback.sweep",
        "schedule": timedelta(minutes=5),
        "options": {"queue": "bulk", "expires": 290},
    },
    # Raw payloads of long-finished events are blanked; their rows stay.
    "prune-inbox-payloads": {
        "task": "revsync.inbox.prune_payloads",
        "schedule": crontab(hour=4, minute=15),
        "options": {"queue": "bulk", "expires": 6 * 3600},
    },
}
