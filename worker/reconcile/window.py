"""The stretch of time one reconciliation run covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Window:
    """From ``start`` (included) to ``end`` (excluded), both aware."""

    start: datetime
    end: datetime
    label: str

    @classmethod
    def day(cls, day: date, tz: str) -> Window:
        """One calendar day in the time zone ``tz``."""
        zone = ZoneInfo(tz)
        start = datetime.combine(day, time(), zone)
        end = datetime.combine(day + timedelta(days=1), time(), zone)
        return cls(start.astimezone(UTC), end.astimezone(UTC), day.isoformat())

    @classmethod
    def previous_day(cls, tz: str, now: datetime | None = None) -> Window:
        """Yesterday, as the clock in ``tz`` reads it."""
        moment = (now or datetime.now(UTC)).astimezone(ZoneInfo(tz))
        return cls.day(moment.date() - timedelta(days=1), tz)

    @property
    def created_params(self) -> dict[str, int]:
        """Stripe's list filter for objects created inside the window."""
        return {
            "created[gte]": int(self.start.timestamp()),
            "created[lt]": int(self.end.timestamp()),
        }
