"""Running one function of a document: argument binding, execution, return checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from helion2json.core.dtypes import dtype_label
from helion2json.core.format_types import (
    ConstantTypeBox,
    DeviceTypeBox,
    DtypeTypeBox,
    ListTypeBox,
    NoneTypeBox,
    ScalarTypeBox,
    TensorTypeBox,
)
from helion2json.core.schema import Func, validate_spec
from helion2json.interpret.machine import Interpreter
from helion2json.interpret.values import InterpretError, dtype_of


def _select_func(funcs: Sequence[Func], name: str | None) -> Func:
    if name is not None:
        for func in funcs:
            if func.name == name:
                return func
        raise InterpretError(
            f"the document has no function {name!r} (it has {[f.name for f in funcs]})"
        )
    if len(funcs) != 1:
        raise InterpretError(
            f"the document has {len(funcs)} functions; pass func= one of {[f.name for f in funcs]}"
        )
    return funcs[0]


def _unwrapped(value: Any) -> Any:
    """``hl.constexpr(v)`` is ``v``: the kernel was specialised on the value it wraps.

    Recognised by shape, not by import: the interpreter never imports helion.
    """
    if type(value).__name__ == "ConstExpr" and isinstance(value, tuple) and len(value) == 1:
        return value[0]
    return value


def _bind_arguments(func: Func, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    names = [arg.id for arg in func.args]
    if len(args) > len(names):
        raise InterpretError(f"{func.name} takes {len(names)} arguments, got {len(args)}")
    bound = {name: _unwrapped(value) for name, value in zip(names, args, strict=False)}
    for key, value in kwargs.items():
        if key not in names:
            raise InterpretError(f"{func.name} has no argument {key!r}")
        if key in bound:
            raise InterpretError(f"argument {key!r} given twice")
        bound[key] = _unwrapped(value)
    missing = [name for name in names if name not in bound]
    if missing:
        raise InterpretError(f"{func.name}: missing arguments {missing}")
    for arg in func.args:
        value = bound[arg.id]
        if isinstance(arg.type, TensorTypeBox):
            _check_tensor(arg.id, arg.type, value)
        elif isinstance(arg.type, DtypeTypeBox):
            if value != dtype_of(arg.type.dtype):
                raise InterpretError(
                    f"argument {arg.id!r} must be {dtype_of(arg.type.dtype)} (the document is "
                    f"specialised on it), got {value!r}"
                )
        elif isinstance(arg.type, DeviceTypeBox):
            try:
                bound[arg.id] = torch.device(value)
            except (TypeError, RuntimeError):
                raise InterpretError(
                    f"argument {arg.id!r} must be a device, got {value!r}"
                ) from None
        elif isinstance(arg.type, NoneTypeBox):
            if value is not None:
                raise InterpretError(
                    f"argument {arg.id!r} must be None (the document is specialised on it), "
                    f"got {type(value).__name__}"
                )
        elif isinstance(arg.type, ConstantTypeBox):
            # The body holds what the string or callable selected; the value is not read.
            if arg.type.kind == "str" and value != arg.type.constant:
                raise InterpretError(
                    f"argument {arg.id!r} must be {arg.type.constant!r} (the document is "
                    f"specialised on it), got {value!r}"
                )
        elif isinstance(arg.type, ListTypeBox):
            items = arg.type.list
            if not isinstance(value, list | tuple) or len(value) != len(items):
                raise InterpretError(
                    f"argument {arg.id!r} must be a list of {len(items)} items, got {value!r}"
                )
            for index, (name, item, given) in enumerate(
                zip(arg.type.names, items, value, strict=True)
            ):
                if isinstance(item, TensorTypeBox):
                    bound[name] = _check_tensor(f"{arg.id}[{index}]", item, given)
                else:
                    bound[name] = _scalar(f"argument '{arg.id}[{index}]'", item.scalar, given)
        else:
            bound[arg.id] = _scalar(f"argument {arg.id!r}", arg.type.scalar, value)
    return bound


def _check_tensor(label: str, declared: TensorTypeBox, value: Any) -> torch.Tensor:
    """``value``, a tensor of the rank and element type an argument (or a list's item)
    declares."""
    if not isinstance(value, torch.Tensor):
        raise InterpretError(f"argument {label!r} must be a tensor, got {value!r}")
    tensor = declared.tensor
    if value.dim() != len(tensor.shape) or value.dtype != dtype_of(tensor.elem):
        raise InterpretError(
            f"argument {label!r} is a {value.dim()}-d {value.dtype} tensor; the "
            f"document declares {len(tensor.shape)}-d {tensor.elem}"
        )
    return value


def _scalar(label: str, kind: str, value: Any) -> bool | int | float:
    """``value`` as the scalar of ``kind`` an argument, a list's item or a ret declares."""
    if kind == "f64" and isinstance(value, int | float):
        return float(value)
    if kind == "i64" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "i1" and isinstance(value, bool):
        return value
    raise InterpretError(f"{label} must be a {kind} scalar, got {value!r}")


def run_document(
    document: Mapping[str, Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
    *,
    func: str | None = None,
    generator: torch.Generator | None = None,
) -> list[torch.Tensor | None]:
    """Execute one function of ``document`` on ``args``; return its ``hl.return`` values
    (None where the kernel returns None, a 0-d tensor of its type for a host scalar).

    The document is validated first (``helion2json.ValidationError``). Tensor
    arguments are used in place, as the kernel uses them: a kernel that writes
    into an argument writes into the tensor passed here (clone to keep it).
    Raises ``InterpretError`` naming the op, its index and source location when
    the document cannot be executed. ``hl.rng_seed`` seeds are drawn from
    ``generator``, else from the default generator of the device the kernel runs on.
    """
    spec = validate_spec(dict(document))
    selected = _select_func(spec.module.funcs, func)
    bound = _bind_arguments(selected, args, kwargs or {})
    # The inputs' device; a kernel without tensor arguments runs on its device argument.
    devices = [value.device for value in bound.values() if isinstance(value, torch.Tensor)]
    devices += [value for value in bound.values() if isinstance(value, torch.device)]
    device = devices[0] if devices else torch.device("cpu")
    interpreter = Interpreter(device, generator)
    program = interpreter.build(selected.body)
    interpreter.env.scopes[0].update(bound)
    interpreter.run_block(program)
    returned = interpreter.returned
    if len(returned) != len(selected.rets):
        raise InterpretError(
            f"hl.return gives {len(returned)} values for {len(selected.rets)} rets"
        )
    for position, (value, ret) in enumerate(zip(returned, selected.rets, strict=True)):
        if isinstance(ret.type, NoneTypeBox):
            if value is not None:
                raise InterpretError(f"return value {position} is {value!r}; rets declares None")
            continue
        if isinstance(ret.type, ScalarTypeBox):
            number = _scalar(f"return value {position}", ret.type.scalar, value)
            returned[position] = torch.tensor(
                number, dtype=dtype_of(ret.type.scalar), device=device
            )
            continue
        if not isinstance(value, torch.Tensor):
            raise InterpretError(f"return value {position} is {value!r}, not a tensor")
        if isinstance(ret.type, TensorTypeBox):
            declared = ret.type.tensor
            if value.dim() != len(declared.shape) or value.dtype != dtype_of(declared.elem):
                raise InterpretError(
                    f"return value {position} is a {value.dim()}-d {dtype_label(value.dtype)} "
                    f"tensor; rets[{position}] declares {len(declared.shape)}-d {declared.elem}"
                )
    return list(returned)
