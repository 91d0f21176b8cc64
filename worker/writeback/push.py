"""Coalesced, rate-limited writes of an account's billing health.

Every applied Stripe event of an account linked to a HubSpot company or a Zendesk
organization marks the account dirty for that system (a Redis counter) and makes
sure one push task is pending (a Redis key set only if absent, so a hundred events
in a second queue one task). The task runs on the ``bulk`` queue after
``REVSYNC_WRITEBACK_DELAY``, computes the state fresh from the store and sends it,
unless it hashes the same as the last state sent. The dirty marker is removed only
after a write succeeded or was found unnecessary, and only if no newer change
came meanwhile; a change that lands while a task runs queues the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import select

from worker.locks import account_lock
from worker.runtime import Runtime
from worker.settings import Settings
from worker.store import AuditEntry, CrossReference, utcnow
from worker.store.models import WritebackState
from worker.sync.context import Event, digest
from worker.sync.stripe.keys import customer_of
from worker.writeback import hubspot, zendesk
from worker.writeback.budget import budget
from worker.writeback.state import (
    failure_reason,
    keep_snapshot,
    load_health,
    note_failure,
)

log = structlog.get_logger(__name__)

PUSH_TASK = "revsync.writeback.push_billing_health"
QUEUE = "bulk"
FAILURE_EVENTS = ("invoice.payment_failed", "payment_intent.payment_failed")
# A dirty marker nobody acts on for a week is dropped (the account's next change
# marks it again); a pending key outlives its task's countdown by this margin.
DIRTY_TTL = 7 * 86400
PENDING_MARGIN = 60


@dataclass(frozen=True)
class Target:
    """Where one system keeps an account: the object type and how to write it."""

    system: str
    object_type: str
    model: str
    configured: Callable[[Settings], bool]


TARGETS = {
    "hubspot": Target("hubspot", "company", "company", hubspot.configured),
    "zendesk": Target("zendesk", "organization", "organization", zendesk.configured),
}


def dirty_key(account_id: int | str, system: str) -> str:
    return f"revsync:writeback:dirty:{account_id}:{system}"


def pending_key(account_id: int, system: str) -> str:
    return f"revsync:writeback:pending:{account_id}:{system}"


# Deletes the marker only if it still holds the generation the task started from.
_CLEAR_IF_SAME = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


# -- after an event -----------------------------------------------------------------


def billing_changed(runtime: Runtime, event: Event, account_id: int | None) -> None:
    """After an event was applied: note a failed payment, schedule the push.

    Called by the pipeline once the event is finished; it never raises, because
    the event itself is applied and must stay so. A write-back lost here (Redis
    down) is made by the account's next change, which computes the whole state.
    Events of HubSpot and Zendesk count too: the one that links an account to a
    company or an organization brings it the account's billing health.
    """
    try:
        if account_id is None and event.source == "stripe":
            account_id = _account_of_customer(runtime, event)
        if account_id is None:
            return
        if event.source == "stripe":
            with runtime.store.session() as session:
                keep_snapshot(session, account_id, event.event_id, event.object)
                if event.type in FAILURE_EVENTS:
                    note_failure(
                        session,
                        account_id,
                        at=datetime.fromtimestamp(event.created, UTC),
                        reason=failure_reason(event.object),
                        event_id=event.event_id,
                    )
        schedule(runtime, account_id)
    except Exception as error:  # noqa: BLE001 - the event stays applied regardless
        log.warning(
            "writeback.schedule_failed",
            account_id=account_id,
            inbox_id=event.inbox_id,
            error=type(error).__name__,
        )


def _account_of_customer(runtime: Runtime, event: Event) -> int | None:
    customer = customer_of(event.object)
    if not customer:
        return None
    with runtime.store.session() as session:
        account: int | None = session.scalar(
            select(CrossReference.account_id).where(
                CrossReference.system == "stripe",
                CrossReference.object_type == "customer",
                CrossReference.external_id == customer,
            )
        )
        return account


def linked(runtime: Runtime, account_id: int) -> dict[str, str]:
    """The systems the account is linked to for write-back, with the target id."""
    object_types = {t.object_type for t in TARGETS.values()}
    with runtime.store.session() as session:
        rows = session.execute(
            select(CrossReference.system, CrossReference.external_id)
            .where(
                CrossReference.account_id == account_id,
                CrossReference.system.in_(list(TARGETS)),
                CrossReference.object_type.in_(sorted(object_types)),
            )
            .order_by(CrossReference.id)
        ).all()
    found: dict[str, str] = {}
    for system, external_id in rows:
        found.setdefault(system, external_id)
    return found


def schedule(runtime: Runtime, account_id: int) -> list[str]:
    """Mark the account dirty for each linked system; queue a push where none is.

    :returns: the systems a new push task was queued for.
    """
    systems = [
        system
        for system in linked(runtime, account_id)
        if TARGETS[system].configured(runtime.settings)
    ]
    if not systems:
        return []
    delay = runtime.settings.writeback_delay
    pipe = runtime.redis.pipeline()
    for system in systems:
        pipe.incr(dirty_key(account_id, system))
        pipe.expire(dirty_key(account_id, system), DIRTY_TTL)
        pipe.set(
            pending_key(account_id, system),
            "1",
            nx=True,
            ex=int(delay) + PENDING_MARGIN,
        )
    replies = pipe.execute()
    queued = []
    for index, system in enumerate(systems):
        if not replies[index * 3 + 2]:
            continue
        try:
            runtime.producer.send_task(
                PUSH_TASK, args=[account_id, system], queue=QUEUE, countdown=delay
            )
        except Exception:
            # Without a task the marker would wait for the key to expire.
            runtime.redis.delete(pending_key(account_id, system))
            raise
        queued.append(system)
    return queued


def sweep(runtime: Runtime, quiet_after_failure: float = 3600) -> int:
    """Queue a push for every dirty marker that has none pending; return how many.

    A marker is left without a task when queuing failed after the event was
    applied (Redis or the broker went away in between). An account whose last
    write was refused for good is left alone for ``quiet_after_failure`` seconds,
    so a standing refusal does not become a stream of calls.
    """
    queued = 0
    recent = utcnow().timestamp() - quiet_after_failure
    for raw in runtime.redis.scan_iter(match=dirty_key("*", "*"), count=500):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        *_, account_part, system = key.split(":")
        account_id = int(account_part)
        if system not in TARGETS or runtime.redis.exists(
            pending_key(account_id, system)
        ):
            continue
        with runtime.store.session() as session:
            state = session.get(WritebackState, (account_id, system))
            if (
                state is not None
                and state.last_error
                and state.updated_at is not None
                and _stamp(state.updated_at) > recent
            ):
                continue
        if not runtime.redis.set(
            pending_key(account_id, system),
            "1",
            nx=True,
            ex=int(runtime.settings.writeback_delay) + PENDING_MARGIN,
        ):
            continue
        runtime.producer.send_task(
            PUSH_TASK, args=[account_id, system], queue=QUEUE, countdown=0
        )
        queued += 1
    if queued:
        log.info("writeback.swept", queued=queued)
    return queued


def _stamp(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# -- the push task's work -----------------------------------------------------------


def push(runtime: Runtime, account_id: int, system: str) -> str:
    """Send the account's billing health to ``system`` if it changed; say what
    happened (written, unchanged, clean, unlinked, not configured, empty).

    :raises OverBudget: the system's shared budget is spent for now.
    :raises LockBusy: another push of this account and system is running.
    :raises RetryableError: 429, 5xx or network; the dirty marker stays.
    :raises PermanentError: the system refused the write; the marker stays too.
    """
    target = TARGETS.get(system)
    if target is None:
        return "unknown system"
    # From here on a new change queues a new task: this one may miss it.
    runtime.redis.delete(pending_key(account_id, system))
    marker = dirty_key(account_id, system)
    generation: bytes | None = runtime.redis.get(marker)  # type: ignore[assignment]
    if generation is None:
        return "clean"
    if not target.configured(runtime.settings):
        log.warning("writeback.not_configured", system=system, account_id=account_id)
        return "not configured"

    with account_lock(
        runtime.redis, f"writeback:{account_id}:{system}", timeout=120, wait=0.2
    ):
        target_id = linked(runtime, account_id).get(system)
        if target_id is None:
            _clear(runtime, marker, generation)
            return "unlinked"
        with runtime.store.session() as session:
            health = load_health(session, account_id, runtime.mapping)
            state = session.get(WritebackState, (account_id, system))
            last_hash = state.values_hash if state else None
            last_sent = dict(state.sent_values or {}) if state else {}
            last_target = state.target_id if state else None
        if health is None:
            _clear(runtime, marker, generation)
            return "empty"

        values = render(runtime, system, health.values())
        values_hash = digest({"target": target_id, "values": values})
        if values_hash == last_hash:
            _clear(runtime, marker, generation)
            log.info("writeback.unchanged", system=system, account_id=account_id)
            return "unchanged"

        settings = runtime.settings
        rate = settings.hubspot_rate if system == "hubspot" else settings.zendesk_rate
        assert settings.redis_url, "checked by settings_or_exit"
        budget(settings.redis_url).spend(system, rate)
        if system == "hubspot":
            hubspot.update_company(
                settings, target_id, {k: v or "" for k, v in values.items()}
            )
        else:
            zendesk.update_organization(settings, target_id, values)

        changed = sorted(
            name
            for name, value in values.items()
            if last_target != target_id or last_sent.get(name, object()) != value
        )
        _record(runtime, account_id, target, target_id, values, values_hash, changed)
        _clear(runtime, marker, generation)
    log.info(
        "writeback.written",
        system=system,
        account_id=account_id,
        target_id=target_id,
        fields=len(changed),
    )
    return "written"


def render(
    runtime: Runtime, system: str, values: dict[str, str | None]
) -> dict[str, str | None]:
    """The values under the property (HubSpot) or field (Zendesk) names mapped."""
    mapping = runtime.mapping
    names = (
        mapping.hubspot_properties if system == "hubspot" else mapping.zendesk_fields
    )
    return {names[key]: value for key, value in values.items() if names.get(key)}


def _clear(runtime: Runtime, marker: str, generation: bytes) -> None:
    runtime.redis.eval(_CLEAR_IF_SAME, 1, marker, generation)


def _record(
    runtime: Runtime,
    account_id: int,
    target: Target,
    target_id: str,
    values: dict[str, str | None],
    values_hash: str,
    changed: list[str],
) -> None:
    now = utcnow()
    with runtime.store.session() as session:
        state = session.get(WritebackState, (account_id, target.system))
        if state is None:
            state = WritebackState(account_id=account_id, system=target.system)
            session.add(state)
        state.target_id = target_id
        state.values_hash = values_hash
        state.sent_values = values
        state.sent_at = now
        state.last_error = None
        state.updated_at = now
        session.add(
            AuditEntry(
                at=now,
                actor="revsync",
                system=target.system,
                model=target.model,
                record_id=target_id,
                operation="update",
                fields=changed or None,
                note="billing health",
            )
        )


def defer(runtime: Runtime, account_id: int, system: str, countdown: float) -> None:
    """The push will run again in ``countdown`` s: changes until then join it."""
    runtime.redis.set(
        pending_key(account_id, system), "1", ex=int(countdown) + PENDING_MARGIN
    )


def record_failure(runtime: Runtime, account_id: int, system: str, reason: str) -> None:
    """Keep why the write failed for good on the account's write-back row."""
    now = utcnow()
    target_id = linked(runtime, account_id).get(system) or ""
    with runtime.store.session() as session:
        state = session.get(WritebackState, (account_id, system))
        if state is None:
            state = WritebackState(
                account_id=account_id, system=system, target_id=target_id
            )
            session.add(state)
        state.last_error = reason
        state.updated_at = now
    log.error("writeback.failed", system=system, account_id=account_id, reason=reason)
