"""One executor per op name of the registry (``helion2json.core.ops``), registered by ``executes``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from helion2json.core.ops import spec_of


@dataclass(frozen=True)
class Executor:
    # (interpreter, op) -> None, or (interpreter, op, plan) -> None with a ``plan``.
    run: Callable[..., None]
    # Work done once, when the program is built: it fails there, before anything runs.
    plan: Callable[[Any, Any], Any] | None


# The executor of each op name of the registry (``helion2json.core.ops``) that is not
# structure: tile loops and ifs are the program tree's nodes.
EXECUTORS: dict[str, Executor] = {}


def executes(
    *op_names: str, plan: Callable[[Any, Any], Any] | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``run`` as the executor of ``op_names``, each an op of the registry."""

    def register(run: Callable[..., None]) -> Callable[..., None]:
        for name in op_names:
            spec = spec_of(name)
            if spec is None or spec.name != name:
                raise ValueError(f"{name!r} is not an op of the format's registry")
            if name in EXECUTORS:
                raise ValueError(f"{name!r} has two executors")
            EXECUTORS[name] = Executor(run, plan)
        return run

    return register
