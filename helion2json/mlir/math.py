"""Device math: ``torch.*`` operators, reductions, matrix products, scans and the ``hl`` ops
that compute values (``hl.zeros``, ``hl.full``, tile properties, views of device values).

Pointwise operators are ``tensor.generate`` bodies of ``arith``/``math`` ops over
broadcast operands; reductions, matrix products and scans fold with an ``scf.for``
per result element, in index order. A value's element type is its recorded
``type`` when the op carries one, else the element type of its operands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from helion2json.mlir.elements import broadcast_shape, fold_loop, generate, read
from helion2json.mlir.lower import Lowering, lowers
from helion2json.mlir.values import (
    Builder,
    ScalarValue,
    TensorValue,
    is_float,
    mlir_elem,
)

Operand = TensorValue | ScalarValue
Payload = Callable[[Builder, list[str], str, Mapping[str, str]], str]

_CATEGORY = {
    **dict.fromkeys(("ui8", "ui16", "ui32", "ui64"), 1),
    "i1": 0,
    "i8": 1,
    "i16": 1,
    "i32": 1,
    "i64": 1,
    "index": 1,
    "f16": 2,
    "bf16": 2,
    "f32": 2,
    "f64": 2,
}
_WIDTH = {
    **{"ui8": 8, "ui16": 16, "ui32": 32, "ui64": 64},
    "i1": 1,
    "i8": 8,
    "i16": 16,
    "i32": 32,
    "i64": 64,
    "index": 64,
    "f16": 16,
    "bf16": 16,
    "f32": 32,
    "f64": 64,
}


def recorded_elem(op: Mapping[str, Any], position: int = 0) -> str | None:
    """The element type the document records for an op's result ``position``."""
    types = op.get("types") or ([op["type"]] if op.get("type") else [])
    if position >= len(types):
        return None
    recorded = types[position]
    if "tensor" in recorded:
        return str(recorded["tensor"]["elem"])
    if "scalar" in recorded:
        return str(recorded["scalar"])
    return None


def promoted(operands: Sequence[Operand]) -> str:
    """The element type operands compute in: the widest of the tensors' highest category;
    a scalar of a higher category than every tensor gives ``f32`` or ``i64``."""
    tensors = [o.elem for o in operands if isinstance(o, TensorValue) or o.typed]
    scalars = [o.elem for o in operands if isinstance(o, ScalarValue) and not o.typed]
    if not tensors:
        tensors = scalars
        scalars = []
    top = max(_CATEGORY[e] for e in tensors)
    best = max((e for e in tensors if _CATEGORY[e] == top), key=lambda e: _WIDTH[e])
    if {"f16", "bf16"} <= set(tensors) and best in ("f16", "bf16"):
        best = "f32"
    if scalars and max(_CATEGORY[e] for e in scalars) > top:
        best = "f32" if max(_CATEGORY[e] for e in scalars) == 2 else "i64"
    return "i64" if best == "index" else best


# ------------------------------------------------------------------ pointwise payloads


def _arith(float_op: str, int_op: str | None = None) -> Payload:
    def payload(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
        op = float_op if is_float(t) else int_op
        if op is None:
            raise ValueError(f"on {t} elements")
        return b.assign(f"{op} {xs[0]}, {xs[1]} : {t}")

    return payload


def _unary_math(name: str) -> Payload:
    return lambda b, xs, t, attrs: b.assign(f"math.{name} {xs[0]} : {t}")


def _scaled(op: str) -> Payload:
    def payload(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
        other = xs[1]
        if "alpha" in attrs:
            other = _arith("arith.mulf", "arith.muli")(b, [other, attrs["alpha"]], t, attrs)
        return _arith(f"arith.{op}f", f"arith.{op}i")(b, [xs[0], other], t, attrs)

    return payload


def _neg(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    if is_float(t):
        return b.assign(f"arith.negf {xs[0]} : {t}")
    return b.assign(f"arith.subi {b.constant(0, t)}, {xs[0]} : {t}")


def _relu(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    return _arith("arith.maximumf", "arith.maxsi")(b, [xs[0], b.constant(0, t)], t, attrs)


def _sigmoid(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    negative = b.assign(f"arith.negf {xs[0]} : {t}")
    exp = b.assign(f"math.exp {negative} : {t}")
    one = b.constant(1.0, t)
    return b.assign(f"arith.divf {one}, {b.assign(f'arith.addf {one}, {exp} : {t}')} : {t}")


def _rsqrt(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    return b.assign(f"math.rsqrt {xs[0]} : {t}")


def _reciprocal(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    return b.assign(f"arith.divf {b.constant(1.0, t)}, {xs[0]} : {t}")


def _gelu(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    x = xs[0]
    half = b.constant(0.5, t)
    one = b.constant(1.0, t)
    if attrs.get("approximate") == "tanh":
        cube = b.assign(f"arith.mulf {x}, {b.assign(f'arith.mulf {x}, {x} : {t}')} : {t}")
        inner = b.assign(f"arith.mulf {b.constant(0.044715, t)}, {cube} : {t}")
        inner = b.assign(f"arith.addf {x}, {inner} : {t}")
        inner = b.assign(f"arith.mulf {b.constant(0.7978845608028654, t)}, {inner} : {t}")
        shape = b.assign(f"math.tanh {inner} : {t}")
    else:
        scaled = b.assign(f"arith.mulf {x}, {b.constant(0.7071067811865476, t)} : {t}")
        shape = b.assign(f"math.erf {scaled} : {t}")
    factor = b.assign(f"arith.addf {one}, {shape} : {t}")
    return b.assign(f"arith.mulf {b.assign(f'arith.mulf {half}, {x} : {t}')}, {factor} : {t}")


def _remainder(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    # The divisor's sign, as Python's and PyTorch's remainder.
    if is_float(t):
        quotient = b.assign(f"math.floor {b.assign(f'arith.divf {xs[0]}, {xs[1]} : {t}')} : {t}")
        return b.assign(
            f"arith.subf {xs[0]}, {b.assign(f'arith.mulf {quotient}, {xs[1]} : {t}')} : {t}"
        )
    quotient = b.assign(f"arith.floordivsi {xs[0]}, {xs[1]} : {t}")
    return b.assign(
        f"arith.subi {xs[0]}, {b.assign(f'arith.muli {quotient}, {xs[1]} : {t}')} : {t}"
    )


def _div(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    mode = attrs.get("rounding_mode")
    if not is_float(t):
        if mode == "floor":
            return b.assign(f"arith.floordivsi {xs[0]}, {xs[1]} : {t}")
        return b.assign(f"arith.divsi {xs[0]}, {xs[1]} : {t}")
    quotient = b.assign(f"arith.divf {xs[0]}, {xs[1]} : {t}")
    if mode == "floor":
        return b.assign(f"math.floor {quotient} : {t}")
    if mode == "trunc":
        return b.assign(f"math.trunc {quotient} : {t}")
    return quotient


def _clamp(low: str | None, high: str | None) -> Payload:
    def payload(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
        value = xs[0]
        if low and low in attrs:
            value = _arith("arith.maximumf", "arith.maxsi")(b, [value, attrs[low]], t, attrs)
        if high and high in attrs:
            value = _arith("arith.minimumf", "arith.minsi")(b, [value, attrs[high]], t, attrs)
        return value

    return payload


def _where(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    return b.assign(f"arith.select {xs[0]}, {xs[1]}, {xs[2]} : {t}")


def _shift(op: str) -> Payload:
    return lambda b, xs, t, attrs: b.assign(f"{op} {xs[0]}, {xs[1]} : {t}")


def _identity(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    return xs[0]


def _bitwise_not(b: Builder, xs: list[str], t: str, attrs: Mapping[str, str]) -> str:
    ones = b.constant(1 if t == "i1" else -1, t)
    return b.assign(f"arith.xori {xs[0]}, {ones} : {t}")


# name → (payload, result kind): "same" computes and returns the promoted type,
# "float" computes in a floating type, "bool" compares the promoted operands.
POINTWISE: dict[str, tuple[Payload, str]] = {
    "add": (_scaled("add"), "same"),
    "sub": (_scaled("sub"), "same"),
    "rsub": (lambda b, xs, t, a: _scaled("sub")(b, [xs[1], xs[0]], t, a), "same"),
    "mul": (_arith("arith.mulf", "arith.muli"), "same"),
    "div": (_div, "float"),
    "neg": (_neg, "same"),
    "exp": (_unary_math("exp"), "float"),
    "exp2": (_unary_math("exp2"), "float"),
    "log": (_unary_math("log"), "float"),
    "log2": (_unary_math("log2"), "float"),
    "log1p": (_unary_math("log1p"), "float"),
    "expm1": (_unary_math("expm1"), "float"),
    "sqrt": (_unary_math("sqrt"), "float"),
    "rsqrt": (_rsqrt, "float"),
    "sin": (_unary_math("sin"), "float"),
    "cos": (_unary_math("cos"), "float"),
    "tanh": (_unary_math("tanh"), "float"),
    "erf": (_unary_math("erf"), "float"),
    "floor": (_unary_math("floor"), "same"),
    "ceil": (_unary_math("ceil"), "same"),
    "abs": (
        lambda b, xs, t, a: b.assign(
            f"{'math.absf' if is_float(t) else 'math.absi'} {xs[0]} : {t}"
        ),
        "same",
    ),
    "sigmoid": (_sigmoid, "float"),
    "reciprocal": (_reciprocal, "float"),
    "relu": (_relu, "same"),
    "gelu": (_gelu, "float"),
    "maximum": (_arith("arith.maximumf", "arith.maxsi"), "same"),
    "minimum": (_arith("arith.minimumf", "arith.minsi"), "same"),
    "clamp_min": (_clamp("min", None), "same"),
    "clamp_max": (_clamp(None, "max"), "same"),
    "clamp": (_clamp("min", "max"), "same"),
    "remainder": (_remainder, "same"),
    "pow": (_arith("math.powf"), "same"),
    "where": (_where, "same"),
    "bitwise_and": (_arith("", "arith.andi"), "same"),
    "bitwise_or": (_arith("", "arith.ori"), "same"),
    "bitwise_xor": (_arith("", "arith.xori"), "same"),
    "bitwise_not": (_bitwise_not, "same"),
    "logical_and": (_arith("", "arith.andi"), "bool"),
    "logical_or": (_arith("", "arith.ori"), "bool"),
    "logical_not": (_bitwise_not, "bool"),
    "__lshift__": (_shift("arith.shli"), "same"),
    "__rshift__": (_shift("arith.shrsi"), "same"),
    "convert_element_type": (_identity, "dtype"),
    "_to_copy": (_identity, "dtype"),
    "clone": (_identity, "same"),
}
COMPARISONS = {
    "eq": ("oeq", "eq"),
    "ne": ("une", "ne"),
    "lt": ("olt", "slt"),
    "le": ("ole", "sle"),
    "gt": ("ogt", "sgt"),
    "ge": ("oge", "sge"),
}
# Scalar attributes that are operands of the pointwise computation.
_SCALAR_ATTRS = ("other", "alpha", "min", "max", "exponent", "value")


def aten_name(op: Mapping[str, Any]) -> str:
    path = str(op["op"]).split(".")[1:]
    return path[-1]


def _attr_scalar(lw: Lowering, value: Any) -> ScalarValue:
    operand = lw.operand(value)
    if isinstance(operand, TensorValue):
        return lw.scalar_of_tensor(operand, str(value))
    return operand


def lower_pointwise(lw: Lowering, op: Mapping[str, Any], name: str) -> None:
    attrs = op.get("attrs") or {}
    operands: list[Operand] = [lw.operand(arg) for arg in op.get("args", [])]
    logical = name in ("logical_and", "logical_or", "logical_not")
    if name in COMPARISONS:
        kind = "compare"
    else:
        payload, kind = POINTWISE[name]
    if "other" in attrs and attrs["other"] is not None:
        operands.append(_attr_scalar(lw, attrs["other"]))
    values = operands[1:] if name == "where" else operands
    compute = "i1" if logical else promoted(values)
    result = recorded_elem(op)
    if kind == "dtype":
        compute = result or mlir_elem(attrs["dtype"])
    elif kind == "float" and not is_float(compute):
        compute = "f32"
    if result is None:
        result = "i1" if kind in ("compare", "bool") else compute
    scalar_attrs = {}
    for key in _SCALAR_ATTRS:
        if key != "other" and attrs.get(key) is not None:
            value = _attr_scalar(lw, attrs[key])
            scalar_attrs[key] = lw.b.convert(value.ssa, value.elem, compute)
    text_attrs = {k: v for k, v in attrs.items() if isinstance(v, str)}
    shape, dims = broadcast_shape(lw, operands)

    def element(indices: list[str]) -> str:
        xs = []
        for position, operand in enumerate(operands):
            x = read(lw, operand, indices)
            target = "i1" if name == "where" and position == 0 else compute
            xs.append(lw.b.convert(x, operand.elem, target))
        if kind == "compare":
            float_pred, int_pred = COMPARISONS[name]
            compare = f"arith.cmpf {float_pred}" if is_float(compute) else f"arith.cmpi {int_pred}"
            return lw.b.assign(f"{compare}, {xs[0]}, {xs[1]} : {compute}")
        value = payload(lw.b, xs, compute, {**text_attrs, **scalar_attrs})
        return lw.b.convert(value, compute, result)

    try:
        if any(isinstance(operand, TensorValue) for operand in operands):
            lw.define(op["result"], generate(lw, result, shape, dims, element))
        else:
            # Scalars in, a scalar out: a combine function's body computes element by element.
            typed = any(isinstance(o, ScalarValue) and o.typed for o in operands)
            lw.define(op["result"], ScalarValue(element([]), result, typed=typed))
    except ValueError as exc:
        raise lw.error(str(exc)) from None


# ------------------------------------------------------------------ reductions


def reduced_axes(dims: Any, rank: int) -> list[int]:
    if dims is None or dims == []:
        return list(range(rank))
    items = dims if isinstance(dims, list) else [dims]
    return sorted({int(d) % rank if rank else 0 for d in items})


_FOLDS = {
    "sum": "add",
    "mean": "add",
    "prod": "mul",
    "amax": "max",
    "amin": "min",
    "max": "max",
    "min": "min",
    "any": "or",
    "all": "and",
}


def identity_of(b: Builder, fold: str, t: str) -> str:
    values = {
        "add": 0,
        "mul": 1,
        "or": 0,
        "and": 1,
        "max": float("-inf") if is_float(t) else -(2 ** (_WIDTH[t] - 1)),
        "min": float("inf") if is_float(t) else 2 ** (_WIDTH[t] - 1) - 1,
    }
    if t.startswith("ui"):
        # The extremes of an unsigned type: 0, and all bits set (-1 as a signless integer).
        values |= {"max": 0, "min": -1}
    return b.constant(values[fold], t)


def fold_op(b: Builder, fold: str, t: str, acc: str, x: str) -> str:
    ops = {
        "add": ("arith.addf", "arith.addi"),
        "mul": ("arith.mulf", "arith.muli"),
        "max": ("arith.maximumf", "arith.maxsi"),
        "min": ("arith.minimumf", "arith.minsi"),
        "or": ("arith.ori", "arith.ori"),
        "and": ("arith.andi", "arith.andi"),
    }
    float_op, int_op = ops[fold]
    return b.assign(f"{float_op if is_float(t) else int_op} {acc}, {x} : {t}")


def reduce_loop(
    lw: Lowering,
    source: TensorValue,
    axes: Sequence[int],
    outer: list[str | None],
    inits: list[str],
    types: list[str],
    step: Callable[[list[str], list[str]], list[str]],
) -> list[str]:
    """Fold ``source``'s elements over ``axes`` at the outer position ``outer`` (None on a
    reduced axis) with ``step(carried, source_indices)``, in index order."""
    positions: list[str] = [p if p is not None else "" for p in outer]

    def nest(level: int, carried: list[str]) -> list[str]:
        if level == len(axes):
            return step(carried, positions)

        def iteration(index: str, values: list[str]) -> list[str]:
            positions[axes[level]] = index
            return nest(level + 1, values)

        zero = lw.b.index(0)
        return fold_loop(lw, zero, source.dims[axes[level]], carried, types, iteration)

    return nest(0, list(inits))


def lower_reduction(lw: Lowering, op: Mapping[str, Any], name: str) -> None:
    attrs = op.get("attrs") or {}
    source = lw.operand(op["args"][0])
    if not isinstance(source, TensorValue):
        raise lw.error("a reduction of a scalar")
    rank = len(source.shape)
    axes = reduced_axes(attrs.get("dim"), rank)
    keep = bool(attrs.get("keepdim"))
    result = recorded_elem(op) or (
        mlir_elem(attrs["dtype"])
        if attrs.get("dtype")
        else "i1"
        if name in ("any", "all")
        else "i64"
        if name in ("sum", "prod") and not is_float(source.elem)
        else source.elem
    )
    compute = result if name not in ("argmax", "argmin") else source.elem
    shape = [1 if a in axes else e for a, e in enumerate(source.shape)]
    dims = [lw.b.index(1) if a in axes else d for a, d in enumerate(source.dims)]
    if not keep:
        shape = [e for a, e in enumerate(shape) if a not in axes]
        dims = [d for a, d in enumerate(dims) if a not in axes]
    count = None
    if name == "mean":
        count = lw.b.index(1)
        for axis in axes:
            count = lw.b.assign(f"arith.muli {count}, {source.dims[axis]} : index")
        count = lw.b.convert(count, "index", compute)

    def element(indices: list[str]) -> str:
        outer: list[str | None] = []
        remaining = iter(indices)
        for axis in range(rank):
            if axis in axes:
                outer.append(None)
                if keep:
                    next(remaining)
            else:
                outer.append(next(remaining))
        if name in ("argmax", "argmin"):
            return _arg_fold(lw, source, axes, outer, name, compute, result)
        fold = _FOLDS[name]

        def step(carried: list[str], positions: list[str]) -> list[str]:
            x = lw.b.assign(f"tensor.extract {source.ssa}[{', '.join(positions)}] : {source.type}")
            return [fold_op(lw.b, fold, compute, carried[0], lw.b.convert(x, source.elem, compute))]

        init = identity_of(lw.b, fold, compute)
        total = reduce_loop(lw, source, axes, outer, [init], [compute], step)[0]
        if count is not None:
            total = lw.b.assign(f"arith.divf {total}, {count} : {compute}")
        return lw.b.convert(total, compute, result)

    lw.define(op["result"], generate(lw, result, shape, dims, element))


def _arg_fold(
    lw: Lowering,
    source: TensorValue,
    axes: Sequence[int],
    outer: list[str | None],
    name: str,
    t: str,
    result: str,
) -> str:
    if len(axes) != 1:
        raise lw.error(f"{name} over several axes")
    b = lw.b
    better = "ogt" if name == "argmax" else "olt"
    int_better = "sgt" if name == "argmax" else "slt"

    def step(carried: list[str], positions: list[str]) -> list[str]:
        x = b.assign(f"tensor.extract {source.ssa}[{', '.join(positions)}] : {source.type}")
        compare = f"arith.cmpf {better}" if is_float(t) else f"arith.cmpi {int_better}"
        wins = b.assign(f"{compare}, {x}, {carried[0]} : {t}")
        if is_float(t):
            # NaN wins as PyTorch's argmax; the first of equal values stays.
            nan = b.assign(f"arith.cmpf uno, {x}, {x} : {t}")
            wins = b.assign(f"arith.ori {wins}, {nan} : i1")
        here = b.convert(positions[axes[0]], "index", "i64")
        return [
            b.assign(f"arith.select {wins}, {x}, {carried[0]} : {t}"),
            b.assign(f"arith.select {wins}, {here}, {carried[1]} : i64"),
        ]

    init = identity_of(b, "max" if name == "argmax" else "min", t)
    found = reduce_loop(lw, source, axes, outer, [init, b.constant(0, "i64")], [t, "i64"], step)
    return b.convert(found[1], "i64", result)


# ------------------------------------------------------------------ matrix products


def matmul(
    lw: Lowering,
    a: TensorValue,
    b_: TensorValue,
    acc: Operand | None,
    compute: str,
    result: str,
    beta: str | None = None,
    alpha: str | None = None,
) -> TensorValue:
    """``beta * acc + alpha * (a @ b)`` (batched over a leading axis), accumulated in ``compute``."""
    b = lw.b
    shape = [*a.shape[:-1], b_.shape[-1]]
    dims = [*a.dims[:-1], b_.dims[-1]]

    product = _linalg_product(lw, a, b_, compute, shape, dims)

    def element(indices: list[str]) -> str:
        total = read(lw, product, indices)
        value = total
        if alpha is not None:
            value = _arith("arith.mulf", "arith.muli")(b, [value, alpha], compute, {})
        if acc is not None:
            base = b.convert(read(lw, acc, indices), acc.elem, compute)
            if beta is not None:
                base = _arith("arith.mulf", "arith.muli")(b, [base, beta], compute, {})
            value = _arith("arith.addf", "arith.addi")(b, [base, value], compute, {})
        return b.convert(value, compute, result)

    return generate(lw, result, shape, dims, element)


def _converted(lw: Lowering, value: TensorValue, elem: str) -> TensorValue:
    if value.elem == elem:
        return value
    return generate(
        lw,
        elem,
        value.shape,
        value.dims,
        lambda indices: lw.b.convert(read(lw, value, indices), value.elem, elem),
    )


def _linalg_product(
    lw: Lowering,
    a: TensorValue,
    b_: TensorValue,
    compute: str,
    shape: Sequence[int | None],
    dims: Sequence[str],
) -> TensorValue:
    """``a @ b`` in ``compute`` with ``linalg.matmul`` (``linalg.batch_matmul`` for three axes)
    into a zero-filled tensor: the operands are converted to ``compute`` first."""
    b = lw.b
    a, b_ = _converted(lw, a, compute), _converted(lw, b_, compute)
    result = TensorValue("", compute, tuple(shape), tuple(dims))
    dynamic = [dim for extent, dim in zip(shape, dims, strict=True) if extent is None]
    empty = b.assign(f"tensor.empty({', '.join(dynamic)}) : {result.type}")
    zero = b.constant(0, compute)
    filled = b.assign(
        f"linalg.fill ins({zero} : {compute}) outs({empty} : {result.type}) -> {result.type}"
    )
    named = "linalg.batch_matmul" if len(shape) == 3 else "linalg.matmul"
    ssa = b.assign(
        f"{named} ins({a.ssa}, {b_.ssa} : {a.type}, {b_.type}) "
        f"outs({filled} : {result.type}) -> {result.type}"
    )
    return TensorValue(ssa, compute, tuple(shape), tuple(dims))


def _tensor(lw: Lowering, value: Any) -> TensorValue:
    operand = lw.operand(value)
    if not isinstance(operand, TensorValue):
        raise lw.error("a matrix product of a scalar")
    return operand


def lower_matmul(lw: Lowering, op: Mapping[str, Any], name: str) -> None:
    attrs = op.get("attrs") or {}
    args = op["args"]
    with_acc = name in ("addmm", "baddbmm")
    acc = lw.operand(args[0]) if with_acc else None
    a, b_ = _tensor(lw, args[-2]), _tensor(lw, args[-1])
    compute = op.get("operand_dtype") or promoted([a, b_] + ([acc] if acc else []))
    result = recorded_elem(op) or compute
    scalars = {}
    for key in ("beta", "alpha"):
        if with_acc and attrs.get(key) is not None:
            factor = _attr_scalar(lw, attrs[key])
            scalars[key] = lw.b.convert(factor.ssa, factor.elem, compute)
    value = matmul(lw, a, b_, acc, compute, result, scalars.get("beta"), scalars.get("alpha"))
    lw.define(op["result"], value)


@lowers("hl.dot")
def lower_dot(lw: Lowering, op: Mapping[str, Any]) -> None:
    args = op["args"]
    a, b_ = _tensor(lw, args[0]), _tensor(lw, args[1])
    acc = lw.operand(args[2]) if len(args) > 2 and args[2] is not None else None
    accumulate = "i32" if a.elem == "i8" else "f32"
    result = mlir_elem(op["dtype"])
    if op.get("out_dtype") and acc is not None:
        product = matmul(lw, a, b_, None, accumulate, mlir_elem(op["out_dtype"]))
        shape, dims = broadcast_shape(lw, [product, acc])

        def element(indices: list[str]) -> str:
            x = lw.b.convert(read(lw, product, indices), product.elem, result)
            y = lw.b.convert(read(lw, acc, indices), acc.elem, result)
            return _arith("arith.addf", "arith.addi")(lw.b, [y, x], result, {})

        lw.define(op["result"], generate(lw, result, shape, dims, element))
        return
    lw.define(op["result"], matmul(lw, a, b_, acc, accumulate, result))
