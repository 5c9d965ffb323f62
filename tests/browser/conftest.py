"""Browser fixtures: the platform (``tests.browser.platform``) on a database of its own,
the console built from its sources, one headless Debian Chromium per package (Playwright,
``executable_path``), and a fresh context per test that collects every console error,
page error and failed request: a test ends with none it did not expect. The launch
settings and ``Console`` live in ``tests.kit.browser`` (the Serve tests drive the console
too)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from cluster.settings import Settings
from domain.market_hours import MarketCalendar
from tests.browser.platform import Platform, running_platform
from tests.conftest import own_database
from tests.kit.browser import (
    CONSOLE,
    Console,
    build_console,
    console_page,
    launch,
)
from tests.kit.browser import (
    console_modules as _console_modules,
)

__all__ = ["CONSOLE", "Console"]  # the journeys import them from here


@pytest.fixture(scope="session")
def console_modules() -> Path:
    """The console's npm packages (``npm ci`` from the lock file when missing)."""
    return _console_modules()


@pytest.fixture(scope="session")
def console_dist(console_modules: Path) -> Path:
    """Build the console from its sources (esbuild: well under a second), as ``./dev`` does."""
    return build_console()


def before_the_open() -> datetime:
    """Where the platform's (shifted) clock starts, whatever the real hour: an hour before
    the next regular open (08:30 New York on a trading day). ``opg`` and ``cls`` orders are
    both accepted then (their windows close at 09:28 and 15:50), and the browser tests take
    far less than the 58 minutes until 09:28. The next open, not a fixed date: times the
    database stamps itself (``now()``) stay within days of the platform's clock."""
    now = datetime.now(UTC)
    calendar = MarketCalendar(now.date() - timedelta(days=7), now.date() + timedelta(days=30))
    return calendar.next_open(now) - timedelta(hours=1)


@pytest.fixture(scope="package")
def platform(settings: Settings, console_dist: Path) -> Iterator[Platform]:
    with own_database("browser") as url:
        s = settings.with_overrides(
            database_url=url, login_max_failures=10_000, clock_start=before_the_open()
        )
        with running_platform(s) as running:
            yield running


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Package-scoped, never session-scoped: Playwright's sync API keeps an event loop
    running in the main thread until it stops, and every async test after it would fail
    with "Runner.run() cannot be called from a running event loop"."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = launch(playwright)
    yield b
    b.close()


@pytest.fixture
def console(
    browser: Browser, platform: Platform, request: pytest.FixtureRequest
) -> Iterator[Console]:
    with console_page(browser, platform.url, request.node.name.removeprefix("test_")) as c:
        yield c
