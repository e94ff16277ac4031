"""Element-level building blocks: ``tensor.generate`` values, loop nests, broadcast reads.

Device values are built element by element (``tensor.generate``, whose body reads
operands with ``tensor.extract`` and host tensors with ``memref.load``); stores and
atomics are ``scf.for`` nests over the written window. Broadcasting is PyTorch's,
right-aligned: an operand axis of static extent 1 is read at position 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from helion2json.mlir.lower import Lowering
from helion2json.mlir.values import ScalarValue, TensorValue, mlir_elem

Shape = tuple[int | None, ...]


def broadcast_shape(
    lw: Lowering, operands: Sequence[TensorValue | ScalarValue]
) -> tuple[Shape, tuple[str, ...]]:
    """The broadcast of the operands' shapes (PyTorch's rule) and its extents."""
    tensors = [value for value in operands if isinstance(value, TensorValue)]
    rank = max((len(t.shape) for t in tensors), default=0)
    shape: list[int | None] = []
    dims: list[str] = []
    for axis in range(rank):
        chosen: tuple[int | None, str] | None = None
        for tensor in tensors:
            position = axis - (rank - len(tensor.shape))
            if position < 0:
                continue
            extent, dim = tensor.shape[position], tensor.dims[position]
            if extent == 1:
                chosen = chosen or (1, dim)
            elif extent is not None:
                chosen = (extent, dim)
                break
            elif chosen is None or chosen[0] == 1:
                chosen = (None, dim)
        assert chosen is not None
        shape.append(chosen[0])
        dims.append(chosen[1])
    return tuple(shape), tuple(dims)


def read(lw: Lowering, value: TensorValue | ScalarValue, indices: Sequence[str]) -> str:
    """``value``'s element at result position ``indices`` (right-aligned broadcasting)."""
    if isinstance(value, ScalarValue):
        return value.ssa
    skip = len(indices) - len(value.shape)
    positions = []
    for axis, extent in enumerate(value.shape):
        positions.append(lw.b.index(0) if extent == 1 else indices[skip + axis])
    return lw.b.assign(f"tensor.extract {value.ssa}[{', '.join(positions)}] : {value.type}")


def generate(
    lw: Lowering,
    elem: str,
    shape: Sequence[int | None],
    dims: Sequence[str],
    body: Callable[[list[str]], str],
) -> TensorValue:
    """A tensor of ``shape`` whose element at each position is what ``body`` computes."""
    b = lw.b
    result = TensorValue("", mlir_elem(elem), tuple(shape), tuple(dims))
    if not shape:
        element = body([])
        ssa = b.assign(f"tensor.from_elements {element} : {result.type}")
        return TensorValue(ssa, elem, (), ())
    dynamic = [dim for extent, dim in zip(shape, dims, strict=True) if extent is None]
    indices = [b.fresh("i") for _ in shape]
    ssa = b.fresh("t")
    extents = "".join(f" {dim}," for dim in dynamic).rstrip(",")
    b.line(f"{ssa} = tensor.generate{extents} {{")
    b.line(f"^bb0({', '.join(f'{i}: index' for i in indices)}):")
    with b.nested():
        element = body(indices)
        b.line(f"tensor.yield {element} : {elem}")
    b.line(f"}} : {result.type}")
    return TensorValue(ssa, elem, tuple(shape), tuple(dims))


@contextmanager
def loop_nest(lw: Lowering, dims: Sequence[str]) -> Iterator[list[str]]:
    """``scf.for`` loops over ``[0, dim)`` for every extent; yields the indices."""
    b = lw.b
    indices = []
    for dim in dims:
        zero, one = b.index(0), b.index(1)
        index = b.fresh("i")
        b.line(f"scf.for {index} = {zero} to {dim} step {one} {{")
        b.depth += 1
        indices.append(index)
    try:
        yield indices
    finally:
        for _ in dims:
            b.depth -= 1
            b.line("}")


@contextmanager
def when(lw: Lowering, flag: str | None) -> Iterator[None]:
    """Ops that run only where ``flag`` (an ``i1``) is true; always when ``flag`` is None."""
    if flag is None:
        yield
        return
    lw.b.line(f"scf.if {flag} {{")
    with lw.b.nested():
        yield
    lw.b.line("}")


def select(
    lw: Lowering, flag: str | None, then: Callable[[], str], otherwise: Callable[[], str], elem: str
) -> str:
    """An element that is ``then()`` where ``flag`` holds, else ``otherwise()``, computed
    lazily inside an ``scf.if`` so that ``then`` may read out of bounds elsewhere."""
    if flag is None:
        return then()
    b = lw.b
    result = b.fresh("sel")
    b.line(f"{result} = scf.if {flag} -> ({elem}) {{")
    with b.nested():
        b.line(f"scf.yield {then()} : {elem}")
    b.line("} else {")
    with b.nested():
        b.line(f"scf.yield {otherwise()} : {elem}")
    b.line("}")
    return result


def fold_loop(
    lw: Lowering,
    lower: str,
    upper: str,
    inits: Sequence[str],
    types: Sequence[str],
    step: Callable[[str, list[str]], list[str]],
) -> list[str]:
    """An ``scf.for`` from ``lower`` to ``upper`` carrying ``inits``: each iteration's new
    values are ``step(index, carried)``; returns the final values."""
    b = lw.b
    one = b.index(1)
    index, result = b.fresh("k"), b.fresh("fold")
    carried = [b.fresh("acc") for _ in inits]
    pairs = ", ".join(f"{c} = {i}" for c, i in zip(carried, inits, strict=True))
    b.line(
        f"{result}:{len(inits)} = scf.for {index} = {lower} to {upper} step {one} "
        f"iter_args({pairs}) -> ({', '.join(types)}) {{"
    )
    with b.nested():
        b.line(f"scf.yield {', '.join(step(index, carried))} : {', '.join(types)}")
    b.line("}")
    return [f"{result}#{i}" for i in range(len(inits))]
