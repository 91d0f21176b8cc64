"""The retry policy's arithmetic and its settings."""

from __future__ import annotations

import pytest

from worker.settings import ConfigurationError, Settings, load_settings
from worker.tasks.base import backoff


class TestBackoff:
    def test_each_step_waits_at_least_half_of_its_exponential_step(self) -> None:
        for attempt in range(1, 10):
            step = min(600, 2 * 2 ** (attempt - 1))
            delays = [backoff(attempt) for _ in range(200)]
            assert min(delays) >= step / 2
            assert max(delays) <= step

    def test_ten_attempts_ride_out_at_least_eight_minutes(self) -> None:
        assert sum(min(600, 2 * 2 ** (n - 1)) / 2 for n in range(1, 10)) >= 480


class TestRetryBudgets:
    def test_a_queue_without_an_override_gets_the_defaults(self) -> None:
        settings = Settings(max_attempts=7, max_retry_age=3600)

        assert settings.retry_budget("default") == (7, 3600)

    def test_a_queue_override_sets_attempts_and_age(self) -> None:
        settings = Settings(retry_budgets="realtime=3/600, bulk=20", max_retry_age=999)

        assert settings.retry_budget("realtime") == (3, 600)
        assert settings.retry_budget("bulk") == (20, 999)

    def test_a_malformed_budget_names_the_setting(self, monkeypatch) -> None:
        monkeypatch.setenv("REVSYNC_RETRY_BUDGETS", "realtime=lots")

        with pytest.raises(ConfigurationError) as error:
            load_settings()

        assert str(error.value).startswith("REVSYNC_RETRY_BUDGETS is malformed")
