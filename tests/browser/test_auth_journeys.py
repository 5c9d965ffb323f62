"""Register (every account type; browser rules; a server 422 on its field), log in and
out, the session list."""

from __future__ import annotations

from playwright.sync_api import Locator, expect

from tests.browser.conftest import Console
from tests.browser.journeys import PASSWORD, api_user, log_in, new_email, notice

TYPES = ("individual", "joint", "ira", "custodial")


def test_register_when_each_account_type_then_signed_in_on_that_account(
    console: Console,
) -> None:
    page = console.open("register")
    for kind in TYPES:
        page.goto(f"{console.base}/console/#/register")
        form = page.locator("#register")
        form.locator("[name=email]").fill(new_email(kind))
        form.locator("[name=password]").fill(PASSWORD)
        form.locator("[name=account_type]").select_option(kind)
        form.locator("[name='profile.legal_name']").fill("Ada Owner")
        form.locator("[name='profile.date_of_birth']").fill("1985-06-01")
        if kind == "custodial":
            expect(form.locator("[name='minor.legal_name']")).to_be_visible()
            form.locator("[name='minor.legal_name']").fill("Tom Minor")
            form.locator("[name='minor.date_of_birth']").fill("2016-04-01")
        else:
            expect(form.locator("[name='minor.legal_name']")).to_be_hidden()
        if kind == TYPES[0]:
            console.shots("form")
        form.locator("button[type=submit]").click()
        expect(page.locator("h2", has_text="Paper account")).to_be_visible()
        notice(page, f"Registered a {kind} account")
        if kind == "custodial":
            console.shots("custodial-account")
        page.click("#nav a[href='#/logout']")
        expect(page.locator("#login")).to_be_visible()


def test_register_when_fields_break_rules_then_browser_refuses_without_a_request(
    console: Console,
) -> None:
    page = console.open("register")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/v1/auth/register" in r.url else None)
    form = page.locator("#register")
    form.locator("[name=email]").fill("not-an-email")
    form.locator("[name=password]").fill("aaaaaaaaaaaaaaa")  # one character class
    form.locator("[name=account_type]").select_option("custodial")
    form.locator("[name='minor.legal_name']").fill("Grown Up")
    form.locator("[name='minor.date_of_birth']").fill("1990-01-01")  # not a minor
    form.locator("[name='profile.phone']").fill("555-0100")
    form.locator("[name='profile.legal_name']").fill("Ada Owner")
    form.locator("[name='profile.date_of_birth']").fill("2015-01-01")  # owner not adult
    form.locator("button[type=submit]").click()

    def err(name: str) -> Locator:
        return form.locator(f"[data-error-for='{name}']")

    expect(err("email")).to_have_text("email is not a valid email address")
    expect(err("password")).to_have_text("password must mix letters, digits or symbols")
    expect(err("minor.date_of_birth")).to_contain_text("a custodial account is for a minor")
    expect(err("profile.date_of_birth")).to_contain_text("must be 18 or older")
    expect(err("profile.phone")).to_contain_text("E.164")
    console.shots("browser-rules")
    assert sent == []


def test_register_when_server_refuses_a_field_then_422_shown_on_that_field(
    console: Console,
) -> None:
    console.expect_status(422, "/v1/auth/register")
    page = console.open("register")
    form = page.locator("#register")
    form.locator("[name=email]").fill(new_email("taxid"))
    form.locator("[name=password]").fill(PASSWORD)
    form.locator("[name='profile.legal_name']").fill("Ada Owner")
    form.locator("[name='profile.date_of_birth']").fill("1985-06-01")
    # well-formed (the browser's rule) but area 000 never exists (the server's own check)
    form.locator("[name='profile.tax_id']").fill("000-12-3456")
    with page.expect_response(lambda r: "/v1/auth/register" in r.url) as answer:
        form.locator("button[type=submit]").click()
    assert answer.value.status == 422
    expect(form.locator("[data-error-for='profile.tax_id']")).to_contain_text("SSN area")
    expect(form.locator("[name='profile.tax_id']")).to_have_attribute("aria-invalid", "true")
    console.shots("server-422")


def test_login_then_sessions_listed_then_logout_back_to_login(console: Console) -> None:
    email = api_user(console.base, "login")
    page = log_in(console, email)
    page.click("#nav a[href='#/sessions']")
    expect(page.locator("h2", has_text="Sessions")).to_be_visible()
    expect(page.locator("section table tbody tr")).to_have_count(1)
    console.shots("sessions")
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('elson.tokens')") is None
