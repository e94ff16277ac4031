"""``hl.reduce`` and ``hl.associative_scan``: folds with the document's combine function.

Per result element, an ``scf.for`` folds the elements along the axis in index order
(a scan's element ``j`` folds ``0..j``; reversed, ``n-1`` down to ``j``), starting
from the first element, and the combine function's body is lowered inline on
scalars: its parameters are the running values and the next element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from helion2json.mlir.elements import fold_loop, generate
from helion2json.mlir.lower import Lowering, lowers, program_tree
from helion2json.mlir.values import ScalarValue, TensorValue


def apply_combine(
    lw: Lowering,
    combine: Mapping[str, Any],
    left: Sequence[str],
    right: Sequence[str],
    elems: Sequence[str],
) -> list[str]:
    """The combine function's results on scalars ``left`` and ``right``, as ``elems``."""
    params = combine["params"]
    values = [*left, *right]
    saved = lw.scopes
    # The function sees its parameters only.
    lw.scopes = [
        {
            name: ScalarValue(ssa, elem, typed=True)
            for name, ssa, elem in zip(params, values, [*elems, *elems], strict=True)
        }
    ]
    try:
        lw.block(program_tree(combine["body"]))
        results = []
        for name, elem in zip(combine["results"], elems, strict=True):
            value = lw.lookup(name)
            if isinstance(value, TensorValue):
                value = lw.scalar_of_tensor(value, name)
            if not isinstance(value, ScalarValue):
                raise lw.error(f"the combine function's result '{name}' is not a value")
            results.append(lw.b.convert(value.ssa, value.elem, elem))
        return results
    finally:
        lw.scopes = saved


def _sources(lw: Lowering, op: Mapping[str, Any]) -> list[TensorValue]:
    sources = []
    for arg in op["args"]:
        value = lw.operand(arg)
        if not isinstance(value, TensorValue):
            raise lw.error("an argument that is a scalar")
        sources.append(value)
    if len({len(s.shape) for s in sources}) != 1:
        raise lw.error("arguments of different ranks")
    return sources


def _fold(
    lw: Lowering,
    op: Mapping[str, Any],
    sources: Sequence[TensorValue],
    positions: list[str],
    axis: int,
    first: str,
    count: str,
    step_sign: int,
) -> list[str]:
    """Fold ``count`` elements along ``axis`` from position ``first`` (going up or down)."""
    b = lw.b
    elems = [s.elem for s in sources]

    def read(position: str) -> list[str]:
        at = list(positions)
        at[axis] = position
        return [b.assign(f"tensor.extract {s.ssa}[{', '.join(at)}] : {s.type}") for s in sources]

    op_name = "arith.addi" if step_sign > 0 else "arith.subi"

    def step(k: str, carried: list[str]) -> list[str]:
        position = b.assign(f"{op_name} {first}, {k} : index")
        return apply_combine(lw, op["combine"], carried, read(position), elems)

    return fold_loop(lw, b.index(1), count, read(first), elems, step)


@lowers("hl.reduce")
def lower_reduce(lw: Lowering, op: Mapping[str, Any]) -> None:
    sources = _sources(lw, op)
    rank = len(sources[0].shape)
    if op.get("dim") is None and rank != 1:
        raise lw.error("a reduction over every axis of a value of rank other than 1")
    axis = 0 if op.get("dim") is None else int(op["dim"]) % rank
    keep = bool(op.get("keep_dims"))
    shape = list(sources[0].shape)
    dims = list(sources[0].dims)
    if keep:
        shape[axis], dims[axis] = 1, lw.b.index(1)
    else:
        del shape[axis], dims[axis]
    for position, (name, source) in enumerate(zip(op["result"], sources, strict=True)):

        def element(indices: list[str], position: int = position) -> str:
            outer = list(indices)
            if keep:
                outer[axis] = lw.b.index(0)
            else:
                outer.insert(axis, lw.b.index(0))
            count = sources[0].dims[axis]
            return _fold(lw, op, sources, outer, axis, lw.b.index(0), count, 1)[position]

        lw.define(name, generate(lw, source.elem, shape, dims, element))


@lowers("hl.associative_scan")
def lower_associative_scan(lw: Lowering, op: Mapping[str, Any]) -> None:
    sources = _sources(lw, op)
    rank = len(sources[0].shape)
    axis = int(op["dim"]) % rank
    reverse = bool(op.get("reverse"))
    b = lw.b
    for position, (name, source) in enumerate(zip(op["result"], sources, strict=True)):

        def element(indices: list[str], position: int = position) -> str:
            one = b.index(1)
            if reverse:
                last = b.assign(f"arith.subi {sources[0].dims[axis]}, {one} : index")
                span = b.assign(f"arith.subi {last}, {indices[axis]} : index")
                count = b.assign(f"arith.addi {span}, {one} : index")
                return _fold(lw, op, sources, indices, axis, last, count, -1)[position]
            count = b.assign(f"arith.addi {indices[axis]}, {one} : index")
            return _fold(lw, op, sources, indices, axis, b.index(0), count, 1)[position]

        lw.define(name, generate(lw, source.elem, source.shape, source.dims, element))
