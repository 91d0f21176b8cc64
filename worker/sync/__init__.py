"""Sync flows: what each source event means for Odoo, one module per business object.

A handler receives the event as stored in the inbox and a ``SyncContext`` that holds
the connections and records every write in the audit log. Handlers are registered per
(source, event type) with ``handles``; an event nobody handles is stored and skipped.
"""

from __future__ import annotations

from worker.sync.context import Event, Skip, SyncContext
from worker.sync.registry import Handler, find_handler, handles

__all__ = ["Event", "Handler", "Skip", "SyncContext", "find_handler", "handles"]
