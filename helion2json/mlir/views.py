"""Views: ``reshape``/``view``/``flatten``, ``permute``/``transpose``/``t``, ``unsqueeze``,
``squeeze``, ``slice``, ``select``, ``contiguous``, ``expand`` of host tensors and device values.

A view is its extents and a map from its positions to its source's. A view of a
host tensor is a ``HostValue`` that loads and stores go through (it aliases the
memref, as PyTorch's views alias their base); a view of a device value is a new
tensor built with that map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helion2json.mlir.elements import generate
from helion2json.mlir.lower import Lowering
from helion2json.mlir.values import Builder, HostValue, Locate, TensorValue

VIEWS = (
    "view",
    "reshape",
    "_unsafe_view",
    "flatten",
    "permute",
    "transpose",
    "t",
    "unsqueeze",
    "squeeze",
    "slice",
    "select",
    "contiguous",
    "alias",
    "expand",
)


@dataclass(frozen=True)
class View:
    shape: tuple[int | None, ...]
    dims: tuple[str, ...]
    locate: Locate
    # Whether the view's elements keep the source's row-major order.
    order_kept: bool


def _linear(b: Builder, positions: Sequence[str], dims: Sequence[str]) -> str:
    linear = b.index(0)
    for position, dim in zip(positions, dims, strict=True):
        scaled = b.assign(f"arith.muli {linear}, {dim} : index")
        linear = b.assign(f"arith.addi {scaled}, {position} : index")
    return linear


def _unravel(b: Builder, linear: str, dims: Sequence[str]) -> list[str]:
    positions: list[str] = []
    for dim in reversed(dims):
        positions.insert(0, b.assign(f"arith.remsi {linear}, {dim} : index"))
        linear = b.assign(f"arith.divsi {linear}, {dim} : index")
    return positions


def _reshaped(lw: Lowering, dims: Sequence[str], sizes: Sequence[Any]) -> View:
    b = lw.b
    total = b.index(1)
    for dim in dims:
        total = b.assign(f"arith.muli {total}, {dim} : index")
    known = b.index(1)
    extents: list[str | None] = []
    for size in sizes:
        if size == -1:
            extents.append(None)
            continue
        extent = lw.index_expr(size)
        known = b.assign(f"arith.muli {known}, {extent} : index")
        extents.append(extent)
    inferred = b.assign(f"arith.divsi {total}, {known} : index")
    view_dims = [inferred if extent is None else extent for extent in extents]
    shape = tuple(None if size == -1 else lw.static_extent(size) for size in sizes)

    def locate(b: Builder, positions: list[str]) -> list[str]:
        return _unravel(b, _linear(b, positions, view_dims), dims)

    return View(shape, tuple(view_dims), locate, True)


def _permuted(shape: Sequence[int | None], dims: Sequence[str], order: Sequence[int]) -> View:
    def locate(b: Builder, positions: list[str]) -> list[str]:
        source = [""] * len(order)
        for view_axis, source_axis in enumerate(order):
            source[source_axis] = positions[view_axis]
        return source

    kept = list(order) == sorted(order)
    return View(tuple(shape[a] for a in order), tuple(dims[a] for a in order), locate, kept)


def view_of(
    lw: Lowering, op: Mapping[str, Any], name: str, shape: Sequence[int | None], dims: Sequence[str]
) -> View:
    """The view ``op`` (aten ``name``) takes of a source of extents ``dims``."""
    attrs = op.get("attrs") or {}
    rank = len(dims)
    b = lw.b
    if name in ("view", "reshape", "_unsafe_view"):
        return _reshaped(lw, dims, attrs.get("size", attrs.get("shape", [])))
    if name == "flatten":
        first = int(attrs.get("start_dim", 0)) % max(rank, 1)
        last = int(attrs.get("end_dim", -1)) % max(rank, 1)
        view_dims = list(dims[:first])
        merged = b.index(1)
        for dim in dims[first : last + 1]:
            merged = b.assign(f"arith.muli {merged}, {dim} : index")
        view_dims += [merged, *dims[last + 1 :]]

        def locate_flat(b: Builder, positions: list[str]) -> list[str]:
            inner = _unravel(b, positions[first], dims[first : last + 1])
            return [*positions[:first], *inner, *positions[first + 1 :]]

        flat_shape = (*shape[:first], None, *shape[last + 1 :])
        return View(flat_shape, tuple(view_dims), locate_flat, True)
    if name == "permute":
        return _permuted(shape, dims, [int(d) % rank for d in attrs["dims"]])
    if name in ("transpose", "t"):
        order = list(range(rank))
        if rank == 2 or name == "transpose":
            first, second = int(attrs.get("dim0", 0)) % rank, int(attrs.get("dim1", 1)) % rank
            order[first], order[second] = order[second], order[first]
        return _permuted(shape, dims, order)
    if name == "unsqueeze":
        at = int(attrs["dim"]) % (rank + 1)

        def locate_unsqueezed(b: Builder, positions: list[str]) -> list[str]:
            return positions[:at] + positions[at + 1 :]

        one = b.index(1)
        return View(
            (*shape[:at], 1, *shape[at:]), (*dims[:at], one, *dims[at:]), locate_unsqueezed, True
        )
    if name == "squeeze":
        listed = attrs.get("dim")
        axes = (
            range(rank)
            if listed is None
            else [int(d) % rank for d in (listed if isinstance(listed, list) else [listed])]
        )
        dropped = [a for a in axes if shape[a] == 1]
        kept = [a for a in range(rank) if a not in dropped]
        zero = b.index(0)

        def locate_squeezed(b: Builder, positions: list[str]) -> list[str]:
            lookup = dict(zip(kept, positions, strict=True))
            return [lookup.get(a, zero) for a in range(rank)]

        return View(
            tuple(shape[a] for a in kept), tuple(dims[a] for a in kept), locate_squeezed, True
        )
    if name == "slice":
        axis = int(attrs.get("dim", 0)) % rank
        start = lw.index_expr(attrs.get("start") or 0)
        end_value = attrs.get("end")
        end = dims[axis] if end_value is None else lw.index_expr(end_value)
        end = b.assign(f"arith.minsi {end}, {dims[axis]} : index")
        step = lw.index_expr(attrs.get("step") or 1)
        extent = b.assign(f"arith.subi {end}, {start} : index")
        extent = b.assign(f"arith.ceildivsi {extent}, {step} : index")

        def locate_sliced(b: Builder, positions: list[str]) -> list[str]:
            scaled = b.assign(f"arith.muli {positions[axis]}, {step} : index")
            moved = b.assign(f"arith.addi {start}, {scaled} : index")
            return [*positions[:axis], moved, *positions[axis + 1 :]]

        return View(
            (*shape[:axis], None, *shape[axis + 1 :]),
            (*dims[:axis], extent, *dims[axis + 1 :]),
            locate_sliced,
            False,
        )
    if name == "select":
        axis = int(attrs.get("dim", 0)) % rank
        index = lw.index_expr(attrs["index"])

        def locate_selected(b: Builder, positions: list[str]) -> list[str]:
            return [*positions[:axis], index, *positions[axis:]]

        return View(
            (*shape[:axis], *shape[axis + 1 :]),
            (*dims[:axis], *dims[axis + 1 :]),
            locate_selected,
            False,
        )
    if name in ("contiguous", "alias"):
        return View(tuple(shape), tuple(dims), lambda b, positions: positions, True)
    if name == "expand":
        sizes = attrs["size"]
        skip = len(sizes) - rank
        view_dims = [
            dims[a - skip] if size == -1 else lw.index_expr(size) for a, size in enumerate(sizes)
        ]
        zero = b.index(0)

        def locate_expanded(b: Builder, positions: list[str]) -> list[str]:
            return [zero if shape[a] == 1 else positions[a + skip] for a in range(rank)]

        view_shape = tuple(
            shape[a - skip] if size == -1 else lw.static_extent(size)
            for a, size in enumerate(sizes)
        )
        return View(view_shape, tuple(view_dims), locate_expanded, False)
    raise lw.error(f"the view {name} is not lowered")


def host_view(lw: Lowering, op: Mapping[str, Any], name: str, source: HostValue) -> HostValue:
    if name in ("view", "reshape", "_unsafe_view", "flatten") and not source.contiguous:
        raise lw.error("a reshape of a host view whose elements are not in row-major order")
    view = view_of(lw, op, name, [None] * len(source.dims), source.dims)
    outer = source.locate

    def locate(b: Builder, positions: list[str]) -> list[str]:
        inner = view.locate(b, positions)
        return outer(b, inner) if outer is not None else inner

    return HostValue(
        source.memref().ssa,
        source.elem,
        view.dims,
        root=source.memref(),
        locate=locate,
        contiguous=source.contiguous and view.order_kept,
    )


def device_view(lw: Lowering, op: Mapping[str, Any], name: str, source: TensorValue) -> TensorValue:
    view = view_of(lw, op, name, source.shape, source.dims)

    def element(indices: list[str]) -> str:
        positions = view.locate(lw.b, indices)
        return lw.b.assign(f"tensor.extract {source.ssa}[{', '.join(positions)}] : {source.type}")

    return generate(lw, source.elem, view.shape, view.dims, element)
