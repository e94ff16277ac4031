"""The type every value-defining op records: the one place results are typed.

Every op the translator writes passes through ``type_results`` (``emit``,
``emit_at_loop`` and the host ops' insertion call it), so a new op gets its
type here, never in its handler. The type comes, in order of precedence:

- from the op's own fields where they fix it completely (allocations and
  constants, tile loops, block-size symbols, copies and conversions of a value
  already typed, the alignment ``unsqueeze``), so that values the translator
  composes itself (accumulators, casts) are typed by what they are;
- from a type the caller gives for a value that is not its node's (a reduction
  loop folding a partial result into its accumulator);
- else from Helion's FX metadata (``node.meta["val"]``, a fake tensor or a
  symbolic scalar): its element type, and its extents through the symbol
  translation the body uses, so a tile's block-size symbol reads as
  ``size(tile)`` (the format's clamped tile, where Helion pads) and a load
  padded with ``pad_to`` has the padded extents. Where the format's own rules
  give the extents from the operands (a slice's ``sizes``, an index, PyTorch
  broadcasting), those win: Helion's IR shares one symbol between blocks of
  equal size and writes the example's number for a window's ``dim(q,2)``.

In a combine function values are elements: tensors of shape ``[]``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.fx import Node

from helion2json.core import expr as ex
from helion2json.core.capture.symbols import sym_expr
from helion2json.core.dtypes import element_type

if TYPE_CHECKING:
    from helion2json.core.capture.translator import KernelTranslator

ValueType = dict[str, Any]

INDEX_SCALAR: ValueType = {"scalar": "i64"}

_UNSQUEEZE = torch.ops.aten.unsqueeze.default


def elem_of(t: KernelTranslator, name: str) -> str:
    """The element type of a host tensor: an argument, an allocation or a host view."""
    value = t.argument(name)
    if isinstance(value, torch.Tensor):
        return element_type(value.dtype)
    return t.names.alloc_dtypes[name]


def tensor_type(shape: Sequence[ex.Expr], elem: str) -> ValueType:
    return {"tensor": {"shape": list(shape), "elem": elem}}


def type_results(
    t: KernelTranslator, op: dict[str, Any], node: Node | None, given: Any = None
) -> None:
    """Set ``op["type"]`` (one result) or ``op["types"]`` (a list of results)."""
    result = op.get("result")
    if result is None or "type" in op or "types" in op:
        return
    if isinstance(result, list):
        types = given if given is not None else _result_types(t, op, node, len(result))
        op["types"] = types
        for name, value_type in zip(result, types, strict=True):
            t.names.types[name] = value_type
        return
    value_type = given if given is not None else _result_type(t, op, node)
    if t.walk.in_combine and "tensor" in value_type:
        value_type = tensor_type([], value_type["tensor"]["elem"])
    op["type"] = value_type
    t.names.types[result] = value_type


def _result_type(t: KernelTranslator, op: dict[str, Any], node: Node | None) -> ValueType:
    name = op["op"]
    if name in ("hl.alloc", "hl.zeros", "hl.full"):
        return tensor_type(op["shape"], op["dtype"])
    if name == "hl.register_block_size":
        return INDEX_SCALAR
    if name == "hl.assign":
        return operand_type(t, op["src"], node)
    if name == "torch.prims.convert_element_type":
        source = operand_type(t, op["args"][0], node)
        return _with_elem(source, op["attrs"]["dtype"])
    if name == "torch.unsqueeze" and node is not None and node.target is not _UNSQUEEZE:
        # The alignment the translator adds before element-wise math (the node is the math).
        source = operand_type(t, op["args"][0], node)
        shape = list(source["tensor"]["shape"])
        shape.insert(op["attrs"]["dim"], 1)
        return tensor_type(shape, source["tensor"]["elem"])
    if node is None:
        raise t.unsupported(f"{name} defines a value of no known type", None, op=name)
    value_type = meta_type(t, node.meta.get("val"), node)
    if "tensor" in value_type:
        # Where the format's own rules give the extents, they are the operands':
        # blocks of equal size share one symbol in Helion's IR, which cannot say
        # which of them sizes an axis.
        from_operands = _shape_from_operands(t, op, node)
        if from_operands is not None:
            value_type = tensor_type(from_operands, value_type["tensor"]["elem"])
    if name.startswith("torch.") and isinstance(op.get("attrs", {}).get("dtype"), str):
        # The translator widens a partial reduction with the op's ``dtype``.
        value_type = _with_elem(value_type, op["attrs"]["dtype"])
    if name == "hl.load" and op.get("pad_to") is not None:
        shape = [
            extent if pad is None else pad
            for extent, pad in zip(value_type["tensor"]["shape"], op["pad_to"], strict=True)
        ]
        value_type = tensor_type(shape, value_type["tensor"]["elem"])
    return value_type


def _shape_from_operands(
    t: KernelTranslator, op: dict[str, Any], node: Node
) -> list[ex.Expr] | None:
    name = op["op"]
    if name == "hl.tile.index":
        return [f"size({op['tile']})"]
    if name == "hl.load" and "slice" in op:
        # The window's extents (``dim(q,2)`` where Helion specialised a number).
        return list(op["slice"]["sizes"])
    if name == "hl.subscript":
        return _subscript_shape(operand_type(t, op["src"], node), op["index"], t, node)
    if name.startswith("torch.") and torch.Tag.pointwise in getattr(node.target, "tags", ()):
        shapes = [_operand_shape(t, arg, node) for arg in op["args"]]
        return _broadcast(t, shapes) if any(shapes) else None
    return None


def _operand_shape(t: KernelTranslator, operand: Any, node: Node) -> list[ex.Expr]:
    """A tensor operand's shape; ``[]`` for scalars (numbers, expressions, scalar names)."""
    if isinstance(operand, dict) and "slice" in operand:
        return list(operand["slice"]["sizes"])
    if isinstance(operand, str) and operand in t.names.types:
        return list(t.names.types[operand].get("tensor", {}).get("shape", []))
    if isinstance(operand, str) and operand not in ("inf", "-inf", "nan"):
        raise t.unsupported(f"operand {operand!r} has no known type", node)
    return []


def _subscript_shape(
    source: ValueType, index: list[dict[str, Any]], t: KernelTranslator, node: Node
) -> list[ex.Expr]:
    extents = list(source["tensor"]["shape"])
    shape: list[ex.Expr] = []
    axis = 0
    for entry in index:
        if "newaxis" in entry:
            shape.append(1)
            continue
        if "full" in entry:
            shape.append(extents[axis])
        elif "tile" in entry or "broadcast" in entry:
            shape.append(f"size({entry.get('tile') or entry['broadcast']})")
        elif "tensor" in entry:
            shape.extend(operand_type(t, entry["tensor"], node)["tensor"]["shape"])
        axis += 1
    return shape + extents[axis:]


def _broadcast(t: KernelTranslator, shapes: list[list[ex.Expr]]) -> list[ex.Expr]:
    """PyTorch's broadcast of symbolic shapes: an extent that is 1 yields to the others."""
    rank = max(len(shape) for shape in shapes)
    result: list[ex.Expr] = []
    for axis in range(rank):
        extents = [
            shape[len(shape) - rank + axis] for shape in shapes if len(shape) - rank + axis >= 0
        ]
        wider = [extent for extent in extents if not _is_one(t, extent)]
        result.append(wider[0] if wider else extents[0])
    return result


def _is_one(t: KernelTranslator, extent: ex.Expr) -> bool:
    """1, or the extent of a tile whose block size is 1."""
    if extent == 1:
        return True
    tiles_of_one = {f"size({b.tile})" for b in t.tiles.blocks.values() if b.size == 1}
    return extent in tiles_of_one


def _result_types(
    t: KernelTranslator, op: dict[str, Any], node: Node | None, count: int
) -> list[ValueType]:
    if op["op"] == "hl.tile.begin":
        # A tile's name is its offset: an index.
        return [INDEX_SCALAR] * count
    if node is None:
        raise t.unsupported(f"{op['op']} defines values of no known type", None, op=op["op"])
    val = node.meta.get("val")
    if isinstance(val, torch.Tensor) and count == 1:
        val = [val]
    elif not isinstance(val, (list, tuple)):
        # Helion records several results on the getitem nodes that unpack them.
        unpacked = {
            user.args[1]: user.meta.get("val")
            for user in node.users
            if user.target is operator.getitem and isinstance(user.args[1], int)
        }
        val = [unpacked.get(index) for index in range(count)]
    if len(val) != count:
        raise t.unsupported(
            f"{op['op']} defines {count} values, Helion's IR has {type(val).__name__}",
            node,
            op=op["op"],
        )
    return [
        meta_type(t, item, node) if item is not None else _combined_type(t, op, index, node)
        for index, item in enumerate(val)
    ]


def _combined_type(t: KernelTranslator, op: dict[str, Any], index: int, node: Node) -> ValueType:
    """A result of ``hl.reduce`` the kernel never reads (Helion records no value for it):
    its arg's type, less the reduced axis."""
    if op["op"] != "hl.reduce":
        raise t.unsupported(f"{op['op']}: result {index} has no type in Helion's IR", node)
    source = operand_type(t, op["args"][index], node)["tensor"]
    shape = list(source["shape"])
    reduced = range(len(shape)) if op["dim"] is None else [op["dim"] % len(shape)]
    for axis in sorted(reduced, reverse=True):
        if op["keep_dims"]:
            shape[axis] = 1
        else:
            del shape[axis]
    return tensor_type(shape, source["elem"])


def meta_type(t: KernelTranslator, val: Any, node: Node) -> ValueType:
    """The type of a value Helion's IR describes (a fake tensor or a symbolic scalar)."""
    if isinstance(val, torch.Tensor):
        shape = [sym_expr(t, size, node) for size in val.shape]
        return tensor_type(shape, element_type(val.dtype, t.where(node)))
    if isinstance(val, (bool, torch.SymBool)):
        return {"scalar": "i1"}
    if isinstance(val, (int, torch.SymInt)):
        return INDEX_SCALAR
    if isinstance(val, (float, torch.SymFloat)):
        return {"scalar": "f64"}
    raise t.unsupported(
        f"{node.name} defines a value of no type the format has ({type(val).__name__})", node
    )


def element_value_type(t: KernelTranslator, node: Node) -> ValueType:
    """A combine function's value: one element (shape ``[]``) of the node's type."""
    return tensor_type([], meta_type(t, node.meta.get("val"), node)["tensor"]["elem"])


def argument_type(t: KernelTranslator, name: str, value: Any) -> ValueType | None:
    """A parameter's type as operands see it: a tensor's extents are ``dim(x,a)``."""
    if isinstance(value, torch.Tensor):
        shape: list[ex.Expr] = [f"dim({name},{axis})" for axis in range(value.dim())]
        return tensor_type(shape, element_type(value.dtype))
    if isinstance(value, (bool, torch.SymBool)) or (
        not isinstance(value, (int, float, torch.SymInt, torch.SymFloat))
        and getattr(value, "is_Boolean", False)
    ):
        return {"scalar": "i1"}
    if isinstance(value, (int, torch.SymInt)):
        return INDEX_SCALAR
    if isinstance(value, (float, torch.SymFloat)):
        return {"scalar": "f64"}
    return None


def operand_type(t: KernelTranslator, operand: Any, node: Node | None) -> ValueType:
    """The type of an operand the document already holds: a name, a slice or a number."""
    if isinstance(operand, str) and operand in t.names.types:
        return t.names.types[operand]
    if isinstance(operand, dict) and "slice" in operand:
        spec = operand["slice"]
        return tensor_type(spec["sizes"], elem_of(t, spec["base"]))
    if isinstance(operand, bool):
        return {"scalar": "i1"}
    if isinstance(operand, int):
        return INDEX_SCALAR
    if isinstance(operand, float):
        return {"scalar": "f64"}
    raise t.unsupported(f"operand {operand!r} has no known type", node)


def _with_elem(value_type: ValueType, elem: str) -> ValueType:
    if "tensor" in value_type:
        return tensor_type(value_type["tensor"]["shape"], elem)
    return {"scalar": elem}
