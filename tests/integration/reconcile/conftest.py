"""The paper fixtures (actor per test, service, driver), plus a reconciler per test that
asks that test's paper actor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from cluster.settings import Settings
from tests.integration.paper import conftest as _paper
from tests.integration.paper.conftest import Desk

# The paper fixtures, shared (pytest registers fixtures bound in a conftest).
calendar = _paper.calendar
desk = _paper.desk
make_desk = _paper.make_desk
paper_settings = _paper.paper_settings
test_db = _paper.test_db

MAX_CHECKS = 3


@pytest.fixture
def make_reconciler(paper_settings: Settings) -> Iterator[Any]:
    """``make_reconciler(desk) -> handle``: a reconciler bound to the desk's actor."""
    made: list[Any] = []

    def build(desk: Desk) -> Any:
        from actors.reconciler import ensure

        s = paper_settings.with_overrides(reconcile_max_unacked_checks=MAX_CHECKS)
        name = f"test.reconciler.{uuid.uuid4().hex[:10]}"
        ensure(s, name=name, paper_name=desk.actor_name)
        handle = ray.get_actor(name, namespace=s.ray_namespace)
        made.append(handle)
        return handle

    yield build
    for handle in made:
        ray.kill(handle, no_restart=True)
