"""Old raw payloads are blanked; the inbox row stays for the audit trail."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from worker.store import InboxEvent, InboxStatus, Store, utcnow

PRUNED: dict[str, str] = {"pruned": "payload removed after the retention period"}


def prune_payloads(store: Store, days: int) -> int:
    """Blank the payloads of done and skipped rows finished ``days`` ago or more.

    Rows still pending, held or dead keep their payload: an operator may need
    it to replay them. Returns how many rows were pruned.
    """
    cutoff = utcnow() - timedelta(days=days)
    with store.session() as session:
        result = session.execute(
            update(InboxEvent)
            .where(
                InboxEvent.status.in_(InboxStatus.FINAL),
                InboxEvent.done_at < cutoff,
                InboxEvent.payload != PRUNED,
            )
            .values(payload=PRUNED)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
