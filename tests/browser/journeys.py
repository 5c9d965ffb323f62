"""Steps the journeys share: a user made over the API, a login through the form."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import Console

PASSWORD = "console journey 1"


def new_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def api_user(base: str, tag: str) -> str:
    """A registered individual (over the API: the register journey has its own test)."""
    email = new_email(tag)
    r = httpx.post(
        f"{base}/v1/auth/register", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert r.status_code == 201, r.text
    return email


def log_in(console: Console, email: str, password: str = PASSWORD) -> Page:
    page = console.open("login")
    page.fill("#login [name=email]", email)
    page.fill("#login [name=password]", password)
    page.click("#login button[type=submit]")
    expect(page.locator("h2", has_text="Paper account")).to_be_visible()
    return page


def notice(page: Page, text: str) -> None:
    expect(page.locator("#notices .notice", has_text=text).first).to_be_visible()


def wait_for_jobs_subscription(page: Page) -> None:
    page.wait_for_function(
        "[...window.elson.gateway.seqs.keys()].some((s) => s.startsWith('jobs:'))"
    )
