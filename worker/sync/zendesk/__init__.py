"""Zendesk flows. Importing this package registers their handlers."""

from __future__ import annotations

import worker.sync.zendesk.organizations  # noqa: F401
