"""The caller's user record and profile; admins may read any profile.

PII never reaches a log: bodies are not logged, and the tax id leaves only masked.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool

from cluster.accounts.service import AccountsService
from serve.deps import AdminUser, CurrentUser, ServicesDep
from serve.routes.auth import auth_of
from serve.schemas.auth import UserPublic
from serve.schemas.problem import problem_responses
from serve.schemas.profiles import ProfileIn, ProfilePublic
from serve.services import Services

router = APIRouter(tags=["users"])


def accounts_of(services: Services) -> AccountsService:
    return auth_of(services).accounts


@router.get(
    "/v1/users/me",
    response_model=UserPublic,
    summary="The caller's user record",
    responses=problem_responses(401),
)
async def get_me(principal: CurrentUser, services: ServicesDep) -> UserPublic:
    user = await run_in_threadpool(auth_of(services).get_user, principal.user_id)
    return UserPublic.of(user)


@router.get(
    "/v1/users/me/profile",
    response_model=ProfilePublic,
    summary="The caller's profile (tax id masked)",
    responses=problem_responses(401, 404),
)
async def get_my_profile(principal: CurrentUser, services: ServicesDep) -> ProfilePublic:
    profile = await run_in_threadpool(accounts_of(services).get_profile, principal.user_id)
    return ProfilePublic.of(profile)


@router.put(
    "/v1/users/me/profile",
    response_model=ProfilePublic,
    summary="Create or replace the caller's profile (the owner must be 18 or older)",
    responses=problem_responses(401, 422),
)
async def put_my_profile(
    body: ProfileIn, principal: CurrentUser, services: ServicesDep
) -> ProfilePublic:
    profile = await run_in_threadpool(
        accounts_of(services).put_profile, principal.user_id, body.to_domain()
    )
    return ProfilePublic.of(profile)


@router.get(
    "/v1/users/{user_id}/profile",
    response_model=ProfilePublic,
    summary="Any user's profile (admin only)",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_user_profile(
    user_id: uuid.UUID, admin: AdminUser, services: ServicesDep
) -> ProfilePublic:
    profile = await run_in_threadpool(
        accounts_of(services).get_profile, str(user_id), reader_id=admin.user_id
    )
    return ProfilePublic.of(profile)


def register(app: FastAPI, services: Services) -> None:
    app.include_router(router)
