"""What a worker process holds on to: settings, the SQL store, Redis and Odoo."""

from __future__ import annotations

from functools import cached_property

import redis
from celery import Celery

from worker.celery_app import make_producer
from worker.mapping import Mapping
from worker.mapping import current as current_mapping
from worker.odoo.catalog import Catalog
from worker.odoo.client import OdooClient, get_client
from worker.settings import Settings, get_settings
from worker.store import Store, get_store


class Runtime:
    """The connections of one process, each opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._catalog: Catalog | None = None

    @cached_property
    def store(self) -> Store:
        return get_store(self.settings.database_url)

    @cached_property
    def redis(self) -> redis.Redis:
        assert self.settings.redis_url, "checked by settings_or_exit"
        return redis.Redis.from_url(
            self.settings.redis_url, socket_connect_timeout=2, socket_timeout=5
        )

    @cached_property
    def producer(self) -> Celery:
        """Publishes follow-up tasks to this runtime's broker."""
        assert self.settings.redis_url, "checked by settings_or_exit"
        return make_producer(self.settings.redis_url)

    @property
    def mapping(self) -> Mapping:
        return current_mapping(self.settings.revsync_config)

    @property
    def catalog(self) -> Catalog:
        client = self.odoo
        if self._catalog is None or self._catalog.client is not client:
            self._catalog = Catalog(client)
        return self._catalog

    @property
    def odoo(self) -> OdooClient:
        s = self.settings
        assert s.odoo_url and s.odoo_db and s.odoo_username and s.odoo_password
        return get_client(
            s.odoo_url, s.odoo_db, s.odoo_username, s.odoo_password.get_secret_value()
        )


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime
