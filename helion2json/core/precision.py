"""The lowest floating precision each returned value of a document passes through.

A value rounded to ``f16`` on its way into an ``f32`` output carries ``f16``'s
rounding error: the interpreter and the reference may round a slightly different
intermediate to different ``f16`` neighbours, a difference far above ``f32``'s
tolerance. ``verify`` compares such an output with the tolerance of the lowest
precision on its path (:func:`lowest_precisions`).

The path is followed by name through the document: a value defined by an op
carries what its operands carry and, where the op rounds (a ``dtype``,
``out_dtype`` or ``operand_dtype`` of a floating type: casts, ``hl.dot``'s
output type, mixed-precision products), that type; a store rounds to its
destination's element type and the destination then carries what was stored.
Arguments carry nothing: their values are what both sides start from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from helion2json.core.dtypes import TORCH_NAMES, torch_dtype

__all__ = ["lowest_precisions"]

# Keys whose element type is one a value is rounded to.
_ROUNDING_KEYS = ("dtype", "out_dtype", "operand_dtype")
# Ops that make a value rather than round one.
_CREATING_OPS = frozenset({"hl.alloc", "hl.zeros", "hl.full"})
_STORES = ("hl.store", "hl.store_slice")


def _floating(elem: Any) -> str | None:
    if isinstance(elem, str) and elem in TORCH_NAMES and torch_dtype(elem).is_floating_point:
        return elem
    return None


def _lower(a: str | None, b: str | None) -> str | None:
    """The element type of lower precision (larger machine epsilon); None is exact."""
    if a is None or b is None:
        return a or b
    return a if torch.finfo(torch_dtype(a)).eps >= torch.finfo(torch_dtype(b)).eps else b


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def _ops(body: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for op in body:
        yield op
        combine = op.get("combine")
        if isinstance(combine, Mapping):
            yield from _ops(combine.get("body", []))


def _rounds_to(op: Mapping[str, Any]) -> str | None:
    if op.get("op") in _CREATING_OPS:
        return None
    found: str | None = None
    for holder in (op, op.get("attrs") or {}):
        for key in _ROUNDING_KEYS:
            found = _lower(found, _floating(holder.get(key)))
    return found


def _results(op: Mapping[str, Any]) -> list[str]:
    result = op.get("result")
    names = result if isinstance(result, list) else [result]
    return [name for name in names if isinstance(name, str)]


def lowest_precisions(func: Mapping[str, Any]) -> list[str | None]:
    """For each value ``hl.return`` names, the lowest-precision floating type on its path.

    None where the value is never rounded to a floating type (or is not returned).
    """
    body = list(_ops(func.get("body", [])))
    elem_of: dict[str, str | None] = {
        op["result"]: _floating(op.get("dtype"))
        for op in body
        if op.get("op") == "hl.alloc" and isinstance(op.get("result"), str)
    }
    for arg in func.get("args", []):
        tensor = arg.get("type", {}).get("tensor")
        if isinstance(tensor, Mapping):
            elem_of[arg["id"]] = _floating(tensor.get("elem"))
    carried: dict[str, str | None] = {}
    # Loops carry values from later ops to earlier ones: repeat until nothing changes.
    for _ in range(len(body) + 1):
        changed = False
        for op in body:
            inputs = [carried[name] for name in _strings(op) if name in carried]
            value = _rounds_to(op)
            for item in inputs:
                value = _lower(value, item)
            targets = _results(op)
            if op.get("op") in _STORES and isinstance(op.get("dst"), str):
                dst = op["dst"]
                value = _lower(value, elem_of.get(dst))
                value = _lower(value, carried.get(dst))
                targets = [dst]
            for name in targets:
                lowered = _lower(carried[name], value) if name in carried else value
                if name not in carried or lowered != carried[name]:
                    carried[name] = lowered
                    changed = True
        if not changed:
            break
    returned = next((op for op in body if op.get("op") == "hl.return"), {})
    return [
        carried.get(name) if isinstance(name, str) else None for name in returned.get("values", [])
    ]
