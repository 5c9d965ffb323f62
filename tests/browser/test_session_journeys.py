"""Notifications by problem type: a revoked session sends the page back to login with one
notice; the quants' jobs page is offered to quants only."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console
from tests.browser.journeys import api_user, log_in, notice, wait_for_jobs_subscription
from tests.browser.platform import Platform


def test_session_when_revoked_then_back_to_login_with_notice(
    console: Console, platform: Platform
) -> None:
    console.expect_status(401, "/v1/accounts/")  # the call the revoked token makes
    console.expect_status(401, "/v1/auth/refresh")  # and the refresh it tries once
    page = log_in(console, api_user(console.base, "revoked"))
    tokens = page.evaluate("JSON.parse(sessionStorage.getItem('elson.tokens'))")
    user = platform.services.auth.verify_access(tokens["access_token"])
    platform.services.auth.revoke_session(user.user_id, tokens["session_id"])
    page.click("#nav a[href='#/orders']")
    expect(page.locator("#login")).to_be_visible()
    notice(page, "Your session expired: log in again.")
    expect(page.locator("#notices .notice")).to_have_count(1)
    console.shots("expired")


def test_jobs_when_quant_then_offered_and_listed_when_user_then_not(
    console: Console, platform: Platform
) -> None:
    page = log_in(console, api_user(console.base, "user"))
    expect(page.locator("#nav a[href='#/orders']")).to_be_visible()
    expect(page.locator("#nav a[href='#/jobs']")).to_have_count(0)
    page.click("#nav a[href='#/logout']")
    email = api_user(console.base, "quant")
    platform.services.auth.set_role(email, "quant", actor="test")
    page = log_in(console, email)
    page.click("#nav a[href='#/jobs']")
    expect(page.locator("h2", has_text="Optimization jobs")).to_be_visible()
    expect(page.locator("section tbody td").first).to_have_text("none")
    job = _job_of(platform, page)
    page.reload()  # the list shows the new job; progress comes over the socket
    expect(page.locator("td[data-col=status]")).to_have_text("queued")
    wait_for_jobs_subscription(page)
    for done in (3, 12):
        platform.services.events.publish(
            f"jobs:{job.owner_user_id}",
            "optimization.progress",
            {"job_id": job.id, "status": "running", "done": done, "total": 12},
        )
        expect(page.locator("td[data-col=progress]")).to_have_text(f"running {done}/12")
    page.locator("section tbody button", has_text="Results").click()
    expect(page.locator("h2", has_text="Results")).to_be_visible()
    console.shots("jobs")


def _job_of(platform: Platform, page: Page) -> Any:
    """A queued grid job of the quant's, stored as the API would (no Ray driver here)."""
    from cluster.optimization.repository import OptimizationRepository
    from domain.optimization import OptimizationRequest

    token = page.evaluate("JSON.parse(sessionStorage.getItem('elson.tokens')).access_token")
    owner = platform.services.auth.verify_access(token).user_id
    request = OptimizationRequest.from_dict(
        {
            "strategy": "sma_cross",
            "data": {"kind": "simulated", "symbol": "AAPL", "bars": 300},
            "params": {"n1": [5, 10, 20], "n2": [30, 50, 80, 100]},
        }
    )
    return OptimizationRepository(platform.services.db).create(
        request,
        owner_user_id=str(owner),
        via="api",
        total_chunks=1,
        total_trials=12,
        chunk_size=12,
        n_bars=300,
    )
