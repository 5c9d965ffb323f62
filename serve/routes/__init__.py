"""Route modules; each defines ``register(app: FastAPI, services: Services) -> None``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

MODULES = (
    "serve.routes.auth",
    "serve.routes.users",
    "serve.routes.accounts",
    "serve.routes.trading",
    "serve.routes.assets",
    "serve.routes.marketdata",
    "serve.routes.optimization",
    "serve.routes.risk",
    "serve.routes.strategies",
    "serve.routes.bench",
    "serve.routes.billing",
)


def registrars() -> list[Callable[[Any, Any], None]]:
    found = []
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # capability not built yet
            raise
        found.append(module.register)
    return found
