"""Browser fixtures: the platform (``tests.browser.platform``) on a database of its own,
the console built from its sources, one headless Debian Chromium per session (Playwright,
``executable_path``), and a fresh context per test that collects every console error,
page error and failed request: a test ends with none it did not expect."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    ViewportSize,
    sync_playwright,
)

from cluster.settings import Settings
from tests.browser.platform import Platform, running_platform
from tests.conftest import own_database

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "serve" / "console"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
#: FIELD-NOTES: headless as root, and quiet on a closed network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: notices no journey should raise: a network or internal error, a gateway warning
UNEXPECTED_NOTICES = ",".join(
    f"#notices .notice[data-kind='{k}']" for k in ("dependency-unavailable", "internal", "warning")
)
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1280, height=900)


@pytest.fixture(scope="session")
def console_modules() -> Path:
    """The console's npm packages (``npm ci`` from the lock file when missing)."""
    assert shutil.which("node"), "node is required (./dev installs the console's packages)"
    if not (CONSOLE / "node_modules" / ".package-lock.json").is_file():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CONSOLE, check=True)
    return CONSOLE / "node_modules"


@pytest.fixture(scope="session")
def console_dist(console_modules: Path) -> Path:
    """Build the console from its sources (esbuild: well under a second), as ``./dev`` does."""
    subprocess.run(["npm", "run", "--silent", "build"], cwd=CONSOLE, check=True)
    return CONSOLE / "dist"


#: the platform's (shifted) clock starts before the open on a trading day, whatever the
#: real hour: ``opg`` and ``cls`` orders are both accepted then (the order windows close
#: at 09:28 and 15:50 New York), and the browser tests take far less than the 58 minutes until 09:28
BROWSER_CLOCK_START = datetime(2026, 12, 8, 8, 30, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture(scope="package")
def platform(settings: Settings, console_dist: Path) -> Iterator[Platform]:
    with own_database("browser") as url:
        s = settings.with_overrides(
            database_url=url, login_max_failures=10_000, clock_start=BROWSER_CLOCK_START
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
    assert Path(CHROMIUM).is_file(), "Debian chromium is missing: ./dev installs it"
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@dataclass
class Console:
    """A page of the console plus what went wrong on it."""

    page: Page
    base: str
    name: str
    problems: list[str] = field(default_factory=list)
    expected: list[tuple[int, str]] = field(default_factory=list)
    allowed_console: list[re.Pattern[str]] = field(default_factory=list)

    def open(self, route: str = "") -> Page:
        self.page.goto(f"{self.base}/console/#/{route}")
        return self.page

    def expect_status(self, status: int, path_part: str) -> None:
        """A response the journey provokes on purpose (a server 422)."""
        self.expected.append((status, path_part))

    def allow_console(self, pattern: str) -> None:
        self.allowed_console.append(re.compile(pattern))

    def shots(self, step: str) -> None:
        """The current page at phone and at desktop width, kept under ``artifacts/``."""
        ARTIFACTS.mkdir(exist_ok=True)
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            self.page.set_viewport_size(size)
            self.page.screenshot(path=ARTIFACTS / f"{self.name}-{step}-{label}.png", full_page=True)
            wide = self.page.evaluate("document.documentElement.scrollWidth")
            assert wide <= size["width"], f"{step}: the page is {wide}px wide at {label} width"
        self.page.set_viewport_size(DESKTOP)

    # ---- listeners ----
    def _expected(self, status: int, url: str) -> bool:
        return any(s == status and part in url for s, part in self.expected)

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        url = msg.location.get("url", "")
        text = msg.text
        status = re.search(r"status of (\d{3})", text)
        if status and self._expected(int(status.group(1)), url):
            return
        if any(p.search(text) for p in self.allowed_console):
            return
        self.problems.append(f"console error: {text} ({url})")

    def on_response(self, response: Response) -> None:
        if response.status >= 400 and not self._expected(response.status, response.url):
            self.problems.append(f"{response.status} {response.request.method} {response.url}")

    def on_failed(self, request: Request) -> None:
        if request.resource_type == "websocket":
            return  # sockets are checked by their own test
        self.problems.append(f"failed: {request.method} {request.url} {request.failure}")


@pytest.fixture
def console(
    browser: Browser, platform: Platform, request: pytest.FixtureRequest
) -> Iterator[Console]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    c = Console(page, platform.url, request.node.name.removeprefix("test_"))
    page.on("console", c.on_console)
    page.on("pageerror", lambda exc: c.problems.append(f"page error: {exc}"))
    page.on("response", c.on_response)
    page.on("requestfailed", c.on_failed)
    try:
        yield c
        problems = list(c.problems)  # before closing: a close aborts what is in flight
        problems += [f"notice: {t}" for t in page.locator(UNEXPECTED_NOTICES).all_inner_texts()]
    finally:
        context.close()
    assert not problems, "\n".join(problems)
