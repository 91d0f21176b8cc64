"""revsync's worker side: the Celery app, settings, SQL store, Odoo client, locks.

``celery -A worker worker`` finds the Celery app here.
"""

from __future__ import annotations

from worker.celery_app import app

celery = app

__all__ = ["app", "celery"]
