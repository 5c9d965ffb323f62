"""The console in headless Debian Chromium, for every suite that drives it: the build, the
launch settings and ``Console``, a page that collects every console error, page error and
failed request. Shared here because pytest fixtures do not cross packages: the browser
tests (an in-process platform) and the Serve tests (the real deployment) both need them."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    ViewportSize,
)

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "serve" / "console"
ARTIFACTS = ROOT / "tests" / "browser" / "artifacts"
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


def console_modules() -> Path:
    """The console's npm packages (``npm ci`` from the lock file when missing)."""
    assert shutil.which("node"), "node is required (./dev installs the console's packages)"
    if not (CONSOLE / "node_modules" / ".package-lock.json").is_file():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CONSOLE, check=True)
    return CONSOLE / "node_modules"


def build_console() -> Path:
    """Build the console from its sources (esbuild: well under a second), as ``./dev`` does."""
    console_modules()
    subprocess.run(["npm", "run", "--silent", "build"], cwd=CONSOLE, check=True)
    return CONSOLE / "dist"


def launch(playwright: Playwright) -> Browser:
    assert Path(CHROMIUM).is_file(), "Debian chromium is missing: ./dev installs it"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


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


@contextmanager
def console_page(browser: Browser, base: str, name: str) -> Iterator[Console]:
    """A fresh context on ``base``; on leaving, fails with every problem it collected and
    every unexpected notice the page still shows."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    c = Console(page, base, name)
    page.on("console", c.on_console)
    page.on("pageerror", lambda exc: c.problems.append(f"page error: {exc}"))
    page.on("response", c.on_response)
    page.on("requestfailed", c.on_failed)
    try:
        yield c
        problems = list(c.problems)  # before closing: a close aborts what is in flight
        problems += [f"notice: {t}" for t in page.locator(UNEXPECTED_NOTICES).all_inner_texts()]
    except Exception as exc:  # what the page saw often says why a step timed out
        if c.problems:
            exc.add_note("the page also saw:\n" + "\n".join(dict.fromkeys(c.problems)))
        raise
    finally:
        context.close()
    assert not problems, "\n".join(problems)
