"""The webhook receiver (Flask). ``gunicorn "webhooks:create_app()"`` serves it."""

from __future__ import annotations

from webhooks.app import create_app

__all__ = ["create_app"]
