"""A quant's optimization job with real trials, in the console: the job goes to
``succeeded`` live, Results shows one row per stored trial best first (and in the other
orders the trials API offers), the best parameters, and the heatmap of two chosen
parameters as a PNG. The trials come from the real backtest kernel run in-process
(``compute_chunk``, what the Ray task runs) and are stored as the job driver stores them:
no Ray here."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, Response, expect

from tests.browser.conftest import Console
from tests.browser.journeys import api_user, log_in, wait_for_jobs_subscription
from tests.browser.platform import Platform

GRID = {"n1": [5, 10, 20], "n2": [30, 50, 80, 100]}
CHUNK = 5  # several chunks, the last one short, as a big job's


def test_results_when_job_has_trials_then_table_best_first_sorts_and_heatmap(
    console: Console, platform: Platform
) -> None:
    from cluster.optimization.repository import OptimizationRepository
    from domain.optimization_plan import best_first

    email = api_user(console.base, "quant")
    platform.services.auth.set_role(email, "quant", actor="test")
    page = log_in(console, email)
    page.click("#nav a[href='#/jobs']")
    expect(page.locator("section tbody td").first).to_have_text("none")
    wait_for_jobs_subscription(page)
    repo = OptimizationRepository(platform.services.db)
    job = _run_job_here(platform, repo, _owner(platform, page))
    expect(page.locator("td[data-col=status]")).to_have_text("succeeded")
    expect(page.locator("td[data-col=progress]")).to_have_text(
        f"succeeded {job.total_trials}/{job.total_trials}"
    )

    stored = repo.trials(job.id, sort=best_first(job.request.objective), limit=None)
    assert len(stored) == repo.count_trials(job.id) == job.total_trials
    with page.expect_response(lambda r: "/heatmap.png" in r.url) as first:
        page.locator("section tbody button", has_text="Results").click()
    _assert_png(first.value, x="n1", y="n2")
    _assert_heatmap_loaded(page)
    heading = f"Results: sma_cross by {job.request.objective}"
    expect(page.locator("h2", has_text="Results")).to_have_text(heading)
    _assert_rows(page, stored)
    best = stored[0]
    expect(page.locator(".best")).to_contain_text(
        f"n1={_js(best.params['n1'])}, n2={_js(best.params['n2'])}"
    )
    expect(page.locator(".best")).to_contain_text(f"{job.request.objective} {_shown(best.score)}")
    console.shots("results")

    for sort in ("score", "id", "-score"):
        page.select_option("select[name=sort]", sort)
        _assert_rows(page, repo.trials(job.id, sort=sort, limit=None))

    with page.expect_response(lambda r: "/heatmap.png" in r.url) as swapped:
        page.select_option("select[name=x]", "n2")  # the y axis gives way: n1
    _assert_png(swapped.value, x="n2", y="n1")
    _assert_heatmap_loaded(page)
    expect(page.locator("select[name=y]")).to_have_value("n1")
    console.shots("results-swapped")


def _assert_rows(page: Page, trials: list[Any]) -> None:
    """One row per trial in the API's order: its parameters, score and statistics."""
    rows = page.locator("section .trials tbody tr")
    expect(rows).to_have_count(len(trials))
    columns: dict[str, Any] = {
        "n1": lambda t: t.params["n1"],
        "n2": lambda t: t.params["n2"],
        "score": lambda t: t.score,
        "trades": lambda t: t.stats["trades"],
        "return_pct": lambda t: t.stats["return_pct"],
    }
    for col, value in columns.items():
        want = [_shown(value(t)) for t in trials]
        expect(page.locator(f".trials td[data-col={col}]")).to_have_text(want)


def _assert_png(response: Response, *, x: str, y: str) -> None:
    query = parse_qs(urlparse(response.url).query)
    assert (query["x"], query["y"]) == ([x], [y])
    assert response.status == 200
    assert response.headers["content-type"] == "image/png"


def _assert_heatmap_loaded(page: Page) -> None:
    page.wait_for_function(
        "() => { const i = document.querySelector('img.heatmap');"
        " return !!i && !i.hidden && i.src.startsWith('blob:') && i.complete"
        " && i.naturalWidth > 0; }"
    )


def _shown(value: float | int | None) -> str:
    """A number as the results view shows it: six significant digits
    (``Number(v.toPrecision(6))``), printed as JavaScript prints numbers."""
    return _js(None if value is None else float(f"{value:.6g}"))


def _js(value: float | int | None) -> str:
    """A number as the console shows it (JavaScript's ``String``): the same shortest
    digits as Python's ``repr``, but ``5`` for ``5.0``, and an exponent only below 1e-6
    or from 1e21 on (``1e-7``, not ``1e-07``)."""
    if value is None:
        return ""
    x = float(value)
    if x == 0:
        return "0"  # and -0 too
    if not 1e-6 <= abs(x) < 1e21:
        digits, exp = repr(x).split("e")
        return f"{digits.removesuffix('.0')}e{int(exp):+d}".replace("e+-", "e-")
    plain = format(Decimal(repr(x)), "f")
    return plain.removesuffix(".0") if "." in plain else plain


def _owner(platform: Platform, page: Page) -> str:
    token = page.evaluate("JSON.parse(sessionStorage.getItem('elson.tokens')).access_token")
    return str(platform.services.auth.verify_access(token).user_id)


def _run_job_here(platform: Platform, repo: Any, owner: str) -> Any:
    """A grid job of sma_cross on simulated bars, stored as the API stores it, then driven
    as ``JobDriver`` drives it, with the chunk task run in this process: ``start``, each
    chunk's trials persisted with its marker and a progress event on the owner's ``jobs``
    stream, ``complete``."""
    from actors.optimize_tasks import ChunkSpec, compute_chunk
    from cluster.optimization.data import load_bars
    from domain.optimization import JobEvent, OptimizationRequest
    from domain.optimization_plan import plan

    request = OptimizationRequest.from_dict(
        {
            "strategy": "sma_cross",
            "data": {"kind": "simulated", "symbol": "AAPL", "bars": 300},
            "params": GRID,
        }
    )
    bars = load_bars(request.data)
    work = plan(request, len(bars), max_grid=platform.settings.optimize_max_grid, cpus=1)
    work = replace(work, chunk_size=CHUNK)
    job = repo.create(
        request,
        owner_user_id=owner,
        via="api",
        total_chunks=work.total_chunks,
        total_trials=work.total_trials,
        chunk_size=work.chunk_size,
        n_bars=len(bars),
    )
    assert job.total_chunks > 1
    job = repo.apply(job.id, JobEvent.START)
    _publish(platform, repo, job, "optimization.status")
    for index in range(work.total_chunks):
        spec = ChunkSpec(
            job_id=job.id,
            index=index,
            strategy=request.strategy,
            points=work.chunk_points(index),
            objective=request.objective,
            min_trades=request.min_trades,
            cash=float(request.cash),
            commission=float(request.commission),
            data_key=job.id,
        )
        assert repo.persist_chunk(job.id, compute_chunk(bars, spec))
        _publish(platform, repo, job, "optimization.progress")
    job = repo.apply(job.id, JobEvent.COMPLETE)
    _publish(platform, repo, job, "optimization.status")
    return job


def _publish(platform: Platform, repo: Any, job: Any, kind: str) -> None:
    """The driver's event (``JobDriver._event``): the job as stored now."""
    fresh = repo.get(job.id)
    data = {
        "job_id": fresh.id,
        "status": fresh.status.value,
        "done": repo.count_trials(job.id),
        "total": fresh.total_trials,
    }
    platform.services.events.publish(f"jobs:{fresh.owner_user_id}", kind, data)
