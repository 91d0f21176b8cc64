"""The operator console in a real browser: find a dead event, replay it, see it done.

Drives Debian's Chromium with Playwright; where Chromium or Playwright is missing the
test says so and skips (CI installs both).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import OPERATOR_TOKEN, wait_until
from tests.operations.test_operator import map_price, unmapped_invoice

pytestmark = pytest.mark.usefixtures("celery_worker")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


class TestConsole:
    def test_an_operator_replays_a_dead_event_from_the_console(
        self, browser, receiver_url, post_stripe, wait_for_status, mapping_path
    ) -> None:
        price, event_id, _ = unmapped_invoice(post_stripe)
        dead = wait_for_status("stripe", event_id, ("dead",))
        map_price(mapping_path, price)
        context = browser.new_context(
            http_credentials={"username": "ops", "password": OPERATOR_TOKEN}
        )
        page = context.new_page()

        page.goto(f"{receiver_url}/operator/")
        row = page.locator(f'tr[data-event="{dead.id}"]')
        assert "no Odoo product mapped" in row.inner_text()
        row.locator("a").click()
        assert page.locator("#event-status").inner_text() == "dead"
        page.fill('form:has(#replay-button) input[name="note"]', "price mapped")
        page.click("#replay-button")

        def shows_done() -> bool:
            page.reload()
            return page.locator("#event-status").inner_text() == "done"

        wait_until(shows_done, 30, "the console to show the event done")
        story = page.locator("table").inner_text()
        assert "replay" in story
        assert "price mapped" in story
        assert "account.move" in story
        context.close()
