"""The one way handlers are registered: a target of the device IR → a handler.

A handler translates one FX node (``(translator, node, values) -> Value``) and
declares the format ops it emits, which ``helion2json.core.ops`` must know
(``helion2json/tests/test_op_registry.py`` checks both).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import torch
from torch.fx import Node

from helion2json.core.capture.helion_ir import is_helion_op
from helion2json.core.capture.values import Value

if TYPE_CHECKING:
    from helion2json.core.capture.translator import KernelTranslator


Handler = Callable[["KernelTranslator", Node, dict[Node, Value]], Value]


# The handler of each target: a Helion function by name, ATen ops as TORCH_TARGET,
# other callables (operator.getitem, symbolic arithmetic) as themselves.
HANDLERS: dict[Hashable, Handler] = {}


# The format ops each handler emits itself (ops of nested graphs are their handlers').
EMITS: dict[Hashable, tuple[str, ...]] = {}


# Every ATen op (``torch.ops.<namespace>.<name>.<overload>``).
TORCH_TARGET = "<aten op>"


# The ops the translator emits itself, whichever handler runs: the launch structure,
# the assignments that merge values, the loads it deferred.
TRANSLATOR_EMITS = (
    "hl.register_block_size",
    "hl.tile.begin",
    "hl.tile.end",
    "hl.assign",
    "hl.load",
    "hl.barrier",
    "hl.return",
)


def handles(*targets: Hashable, emits: tuple[str, ...]) -> Callable[[Handler], Handler]:
    """Register a handler for ``targets`` that emits the format ops ``emits``."""

    def register(handler: Handler) -> Handler:
        for target in targets:
            if target in HANDLERS:
                raise ValueError(f"{target!r} has two handlers")
            HANDLERS[target] = handler
            EMITS[target] = emits
        return handler

    return register


def target_key(target: Any) -> Hashable:
    if not callable(target):
        return None
    if isinstance(target, torch._ops.OpOverload):
        return TORCH_TARGET
    if is_helion_op(target):
        return getattr(target, "__name__", None)
    return target


def describe_target(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"torch.{target._opname}.{target._overloadname}"
    module = getattr(target, "__module__", "") or ""
    name = getattr(target, "__name__", str(target))
    if module.startswith("helion.language"):
        return f"hl.{name.lstrip('_')}"
    return f"{module}.{name}" if module else name
