"""Billing routes: start, read and cancel my subscription; PayPal's webhook.

``POST /webhooks/paypal`` reads the raw body bytes and hands them, with the headers, to
``BillingService.receive``: the signature is over those bytes, never re-serialized JSON.
It answers 200 for an applied or already-applied event (PayPal stops redelivering) and
400 ``webhook-refused`` for anything it cannot verify (nothing is changed).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from serve.deps import CurrentUser
from serve.schemas import billing as sc
from serve.schemas.problem import problem_responses
from serve.services import Services

PREFIX = "/v1/billing/subscription"


def register(app: FastAPI, services: Services) -> None:
    service = services.billing
    if service is None:
        return
    router = APIRouter(tags=["billing"])

    @router.post(
        PREFIX,
        status_code=201,
        operation_id="start_subscription",
        summary="Start a subscription to a paid plan; answers PayPal's approval link",
        responses=problem_responses(401, 409, 422, 503),
    )
    async def start(body: sc.SubscriptionCreate, p: CurrentUser) -> sc.SubscriptionStarted:
        started = await run_in_threadpool(service.start, str(p.user_id), body.plan)
        return sc.SubscriptionStarted(
            subscription=sc.SubscriptionPublic.of(started.subscription),
            approval_url=started.approval_url,
        )

    @router.get(
        PREFIX,
        operation_id="get_my_plan",
        summary="My plan, its entitlements and my subscription (if any)",
        responses=problem_responses(401),
    )
    async def mine(p: CurrentUser) -> sc.MyPlanPublic:
        return sc.MyPlanPublic.of(await run_in_threadpool(service.mine, str(p.user_id)))

    @router.post(
        f"{PREFIX}/cancel",
        operation_id="cancel_subscription",
        summary="Cancel my subscription at PayPal; the plan falls back to free",
        responses=problem_responses(401, 404, 409, 503),
    )
    async def cancel(p: CurrentUser) -> sc.SubscriptionPublic:
        return sc.SubscriptionPublic.of(await run_in_threadpool(service.cancel, str(p.user_id)))

    @router.post(
        "/webhooks/paypal",
        operation_id="receive_paypal_webhook",
        summary="PayPal webhook deliveries (verified over the raw body)",
        responses=problem_responses(400, 503),
    )
    async def webhook(request: Request) -> sc.WebhookAck:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        outcome = await run_in_threadpool(service.receive, headers, raw)
        return sc.WebhookAck(outcome=outcome)

    app.include_router(router)
