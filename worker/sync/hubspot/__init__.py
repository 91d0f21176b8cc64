"""HubSpot flows. Importing this package registers their handlers."""

from __future__ import annotations

import worker.sync.hubspot.deals  # noqa: F401
