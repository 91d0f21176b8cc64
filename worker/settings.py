"""Settings from the environment (and a ``.env`` file), validated once per process.

Every process states which settings it cannot run without (``require``). A missing or
malformed one stops the process with a single line naming the variable: operators read
that line in a container log, so it must not be buried in a traceback, and it must
never echo a secret's value.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///revsync.db"

#: What each kind of process needs before it can do anything useful.
ROLE_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "receiver": ("REDIS_URL",),
    "worker": (
        "REDIS_URL",
        "ODOO_URL",
        "ODOO_DB",
        "ODOO_USERNAME",
        "ODOO_PASSWORD",
    ),
    "broker": ("REDIS_URL",),
    "odoo": ("ODOO_URL", "ODOO_DB", "ODOO_USERNAME", "ODOO_PASSWORD"),
    "store": (),
    "backfill": ("REDIS_URL", "STRIPE_API_KEY"),
}

#: Outside the sandbox environment these must be set explicitly as well.
PRODUCTION_REQUIREMENTS = ("DATABASE_URL", "REVSYNC_OPERATOR_TOKEN")


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message names the variable only."""


class Settings(BaseSettings):
    """All of revsync's settings; names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
        populate_by_name=True,
    )

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    odoo_url: str | None = None
    odoo_db: str | None = None
    odoo_username: str | None = None
    odoo_password: SecretStr | None = None

    stripe_webhook_secret: SecretStr | None = None
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    hubspot_client_secret: SecretStr | None = None
    hubspot_access_token: SecretStr | None = None
    hubspot_api_base: str = "https://api.hubapi.com"
    hubspot_app_id: str | None = None
    hubspot_signature_versions: str = "v3"
    zendesk_webhook_secret: SecretStr | None = None
    zendesk_api_base: str | None = None
    zendesk_email: str | None = None
    zendesk_api_token: SecretStr | None = None

    sentry_dsn: SecretStr | None = None
    revsync_env: Literal["sandbox", "staging", "production"] = "sandbox"
    revsync_operator_token: SecretStr | None = None
    revsync_config: str | None = None

    # The URL HubSpot signs, when revsync sits behind a proxy that rewrites it.
    webhook_public_base_url: str | None = Field(
        default=None, validation_alias="REVSYNC_PUBLIC_BASE_URL"
    )
    webhook_trusted_proxy_hops: int = Field(
        default=0, ge=0, le=5, validation_alias="REVSYNC_TRUSTED_PROXY_HOPS"
    )
    webhook_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, validation_alias="REVSYNC_MAX_BODY_BYTES"
    )
    webhook_signature_tolerance: int = Field(
        default=300, ge=1, validation_alias="REVSYNC_SIGNATURE_TOLERANCE"
    )
    # Zendesk retries a failed delivery with its first timestamp, minutes later.
    zendesk_signature_tolerance: int = Field(
        default=3600, ge=1, validation_alias="REVSYNC_ZENDESK_SIGNATURE_TOLERANCE"
    )

    lock_timeout: int = Field(
        default=150, ge=10, validation_alias="REVSYNC_LOCK_TIMEOUT"
    )
    lock_wait: float = Field(default=0.5, gt=0, validation_alias="REVSYNC_LOCK_WAIT")
    max_attempts: int = Field(default=10, ge=1, validation_alias="REVSYNC_MAX_ATTEMPTS")
    max_retry_age: int = Field(
        default=86400, ge=60, validation_alias="REVSYNC_MAX_RETRY_AGE"
    )
    # Per-queue overrides, "queue=attempts/age_seconds,...", e.g. "bulk=20/172800".
    retry_budgets: str = Field(default="", validation_alias="REVSYNC_RETRY_BUDGETS")
    max_wait_seconds: int = Field(
        default=3600, ge=1, validation_alias="REVSYNC_MAX_WAIT"
    )
    sweep_after_seconds: int = Field(
        default=60, ge=1, validation_alias="REVSYNC_SWEEP_AFTER"
    )
    # An account delivering more than this many events within the window has the
    # rest sent to the bulk queue, so its burst does not delay other accounts'
    # realtime events (0 turns this off).
    burst_limit: int = Field(default=30, ge=0, validation_alias="REVSYNC_BURST_LIMIT")
    burst_window: int = Field(default=30, ge=1, validation_alias="REVSYNC_BURST_WINDOW")

    # Billing health write-back: one budget per system shared by every worker (the
    # ``limits`` notation, "100/10 seconds"), and how long the changes of one
    # account are gathered before its latest state is sent.
    hubspot_rate: str = Field(
        default="100/10 seconds", validation_alias="REVSYNC_HUBSPOT_RATE"
    )
    zendesk_rate: str = Field(
        default="100/minute", validation_alias="REVSYNC_ZENDESK_RATE"
    )
    writeback_delay: float = Field(
        default=5.0, ge=0.1, le=300, validation_alias="REVSYNC_WRITEBACK_DELAY"
    )

    # Observability: a live subscription whose order is not confirmed after this
    # long counts as a delayed activation; workers serve /metrics on this port.
    activation_delay_seconds: int = Field(
        default=900, ge=1, validation_alias="REVSYNC_ACTIVATION_DELAY"
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, validation_alias="REVSYNC_METRICS_PORT"
    )
    sentry_traces_sample_rate: float = Field(
        default=0.0, ge=0, le=1, validation_alias="REVSYNC_SENTRY_TRACES_SAMPLE_RATE"
    )

    # Nightly reconciliation: local time and zone of the run, where the reports
    # go, how many mismatches make an alert, and how long raw payloads are kept.
    reconcile_at: str = Field(default="02:30", validation_alias="REVSYNC_RECONCILE_AT")
    reconcile_tz: str = Field(default="UTC", validation_alias="REVSYNC_RECONCILE_TZ")
    # Seconds between runs instead of the nightly time (tests, demos); 0 = nightly.
    reconcile_every: int = Field(
        default=0, ge=0, validation_alias="REVSYNC_RECONCILE_EVERY"
    )
    report_dir: str = Field(default="reports", validation_alias="REVSYNC_REPORT_DIR")
    reconcile_alert_threshold: int = Field(
        default=50, ge=0, validation_alias="REVSYNC_RECONCILE_ALERT_THRESHOLD"
    )
    reconcile_batch: int = Field(
        default=2500, ge=1, le=10000, validation_alias="REVSYNC_RECONCILE_BATCH"
    )
    inbox_retention_days: int = Field(
        default=90, ge=1, validation_alias="REVSYNC_INBOX_RETENTION_DAYS"
    )

    @field_validator("reconcile_at")
    @classmethod
    def _reconcile_at(cls, value: str) -> str:
        hour, _, minute = value.partition(":")
        if not (hour.isdigit() and minute.isdigit()) or not (
            0 <= int(hour) < 24 and 0 <= int(minute) < 60
        ):
            raise ValueError("must be a time of day like 02:30")
        return value

    @field_validator("reconcile_tz")
    @classmethod
    def _reconcile_tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone like Europe/Berlin") from None
        return value

    # How often Beat runs the sweeper (seconds).
    sweep_interval: float = Field(
        default=60, gt=0, validation_alias="REVSYNC_SWEEP_INTERVAL"
    )
    # How long Redis keeps a taken but unacknowledged message (its worker died)
    # before handing it out again, which is also how long the sweeper leaves a
    # queued row alone. Unset: celery_app.VISIBILITY_TIMEOUT, above any task plus
    # any countdown. Lower only where tasks and retries are known to be short.
    visibility_timeout: int | None = Field(
        default=None, ge=5, validation_alias="REVSYNC_VISIBILITY_TIMEOUT"
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; postgresql:// alone means psycopg2.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss"):
            raise ValueError("must be a redis:// or rediss:// URL")
        return value

    @field_validator("odoo_url", "stripe_api_base", "hubspot_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("retry_budgets")
    @classmethod
    def _retry_budgets(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            queue, _, budget = part.partition("=")
            attempts, _, age = budget.partition("/")
            if not queue or not attempts.isdigit() or (age and not age.isdigit()):
                raise ValueError("must look like realtime=10/3600,bulk=20")
        return value

    @field_validator("hubspot_rate", "zendesk_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            item = parse(value)
        except ValueError:
            raise ValueError('must look like "100/10 seconds"') from None
        if item.amount < 1:
            raise ValueError("must allow at least one call")
        return value

    def retry_budget(self, queue: str) -> tuple[int, int]:
        """(attempts, seconds) an event on ``queue`` may spend on retries."""
        for part in filter(None, (p.strip() for p in self.retry_budgets.split(","))):
            name, _, budget = part.partition("=")
            if name == queue:
                attempts, _, age = budget.partition("/")
                return int(attempts), int(age) if age else self.max_retry_age
        return self.max_attempts, self.max_retry_age

    @property
    def stripe_webhook_secrets(self) -> list[str]:
        """The endpoint secrets in force; several at once while one is rotated."""
        if self.stripe_webhook_secret is None:
            return []
        raw = self.stripe_webhook_secret.get_secret_value()
        return [part.strip() for part in raw.split(",") if part.strip()]

    def require(self, role: str) -> Settings:
        """Raise ConfigurationError naming the first setting ``role`` lacks."""
        names = list(ROLE_REQUIREMENTS[role])
        if self.revsync_env != "sandbox" and role in ("receiver", "worker"):
            names += PRODUCTION_REQUIREMENTS
        for name in names:
            if not self._is_set(name):
                raise ConfigurationError(f"{name} is not set")
        return self

    def _is_set(self, name: str) -> bool:
        if name == "DATABASE_URL":
            return "database_url" in self.model_fields_set
        value = getattr(self, name.lower())
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return bool(value)


_ALIASES = {
    name: str(info.validation_alias)
    for name, info in Settings.model_fields.items()
    if info.validation_alias
}


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "configuration"
    name = _ALIASES.get(field, field).upper()
    # pydantic's message never includes the input value when we print only "msg".
    return f"{name} is malformed: {first['msg']}"


def load_settings() -> Settings:
    """Read the settings, turning validation errors into a ConfigurationError."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return load_settings()


def settings_or_exit(role: str) -> Settings:
    """The settings ``role`` needs, or exit with one line that names the problem."""
    try:
        return get_settings().require(role)
    except ConfigurationError as error:
        print(f"revsync: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
