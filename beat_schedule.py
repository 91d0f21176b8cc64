"""What Celery Beat runs, and when. Run exactly one Beat per deployment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

beat_schedule: dict[str, dict[str, Any]] = {
    # Events stored while Redis was down, or whose worker died, are queued again.
    "sweep-inbox": {
        "task": "revsync.inbox.sweep",
        "schedule": timedelta(minutes=1),
        "options": {"queue": "default", "expires": 55},
    },
}
