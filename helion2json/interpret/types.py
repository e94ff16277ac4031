"""Every computed value against the type its op records (``type`` / ``types``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from helion2json.core.dtypes import dtype_label
from helion2json.core.format_types import ScalarTypeBox, TensorTypeBox, ValueType
from helion2json.core.ops import result_names
from helion2json.interpret.values import InterpretError, Tile, dtype_of

if TYPE_CHECKING:
    from helion2json.interpret.machine import Interpreter

# The Python values a scalar type admits (a bool is not an i64).
_SCALARS: dict[str, tuple[type, ...]] = {"i1": (bool,), "i64": (int,), "f64": (float,)}


def recorded_types(op: Any) -> list[ValueType] | None:
    """The types an op records for its results, in ``result_names`` order; None: untyped."""
    if getattr(op, "types", None) is not None:
        return list(op.types)
    if getattr(op, "type", None) is not None:
        return [op.type]
    return None


def check_results(it: Interpreter, op: Any, *, elements: bool = False) -> None:
    """Fail unless every value ``op`` defined has its recorded type.

    Shapes are evaluated with the current bindings (this iteration's tiles);
    element types must be exact. With ``elements`` (a combine function, which
    the interpreter applies to many elements at once) only element types count.
    """
    types = recorded_types(op)
    if types is None:
        return
    for name, value_type in zip(result_names(op), types, strict=False):
        problem = _mismatch(it, it.env.get(name), value_type, elements)
        if problem is not None:
            raise InterpretError(f"'{name}' is {problem}")


def _mismatch(it: Interpreter, value: Any, value_type: ValueType, elements: bool) -> str | None:
    if isinstance(value_type, TensorTypeBox):
        declared = value_type.tensor
        if not isinstance(value, torch.Tensor):
            return f"{value!r}, but its type is a {declared.elem} tensor"
        if value.dtype != dtype_of(declared.elem):
            return f"a {dtype_label(value.dtype)} tensor, but its type says {declared.elem}"
        if elements:
            return None
        shape = it.shape(declared.shape)
        if list(value.shape) != shape:
            return (
                f"a tensor of shape {list(value.shape)}, but its type says "
                f"{declared.shape} = {shape}"
            )
        return None
    assert isinstance(value_type, ScalarTypeBox)
    kind = value_type.scalar
    scalar = value.offset if isinstance(value, Tile) else value
    if isinstance(scalar, _SCALARS[kind]) and not (kind == "i64" and isinstance(scalar, bool)):
        return None
    return f"{scalar!r}, but its type is an {kind} scalar"
