"""Check a Serve config's keys against Ray Serve's own models, recursively.

Ray's ``ServeDeploySchema`` accepts misspelled keys silently (its models ignore extras), so
a typo such as ``max_ongoing_request`` would deploy with the default. ``unknown_keys``
walks the config beside the models and names every key a model does not declare.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation admits (through Optional, Union, List, Dict values)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, typing.Annotated):
        for arg in typing.get_args(annotation):
            out.extend(_models(arg))
    return out


#: fields Ray types as a plain dict that Serve parses into a model later
def _overrides() -> dict[tuple[str, str], type[BaseModel]]:
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import DeploymentSchema, RayActorOptionsSchema

    return {
        (DeploymentSchema.__name__, "autoscaling_config"): AutoscalingConfig,
        (DeploymentSchema.__name__, "ray_actor_options"): RayActorOptionsSchema,
    }


#: free-form fields (user data) whose keys are not Serve's to check
FREE_FORM = {"args", "user_config", "runtime_env", "resources", "env_vars"}


def unknown_keys(config: Any, model: type[BaseModel], where: str = "") -> list[str]:
    if not isinstance(config, dict):
        return []
    fields = model.model_fields
    overrides = _overrides()
    problems: list[str] = []
    for key, value in config.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            problems.append(f"{path}: {model.__name__} has no field {key!r}")
            continue
        if key in FREE_FORM:
            continue
        sub = overrides.get((model.__name__, key))
        candidates = [sub] if sub else _models(fields[key].annotation)
        if not candidates:
            continue
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            item_path = f"{path}[{i}]" if isinstance(value, list) else path
            # the first model that knows every key wins (a Union of models)
            results: list[list[str]] = [unknown_keys(item, m, item_path) for m in candidates]
            problems.extend(sorted(results, key=lambda r: len(r))[0])
    return problems
