"""The reference interpreter: execute a helion2json document with PyTorch.

``run_document(document, args)`` runs one function of a document on concrete
inputs and returns the tensors its ``hl.return`` names. It reads nothing but
the document and the inputs (it never imports helion), so a document that
runs here and matches the kernel's own results carries everything needed to
execute the kernel: that is how ``helion2json.core.verify`` proves the format
lossless, kernel by kernel.

Semantics follow ``docs/json-format.md``; ``docs/verify.md`` lists the
choices the format leaves to an implementation and how this one makes them.
Every op is executed or rejected with an ``InterpretError`` naming it: nothing
is skipped.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import torch
from pydantic import ValidationError as PydanticValidationError

from helion2json.core import expr as ex
from helion2json.core.dtypes import dtype_label, torch_dtype
from helion2json.core.errors import ElementTypeError
from helion2json.core.format_types import (
    AtIndex,
    ExprOperand,
    FullIndex,
    IndexEntry,
    Loc,
    NewAxisIndex,
    SliceOperand,
    SliceSpec,
    TensorIndex,
    TensorTypeBox,
    TileIndex,
)
from helion2json.core.ops import (
    TORCH,
    AllocOp,
    AssignOp,
    AssociativeScanOp,
    AtomicOp,
    BarrierOp,
    CombineFunction,
    DotOp,
    FullOp,
    IfBeginOp,
    JoinOp,
    LoadOp,
    MaskToOp,
    ReduceOp,
    RegisterBlockSizeOp,
    ReturnOp,
    ScanOp,
    SplitOp,
    StoreOp,
    StoreSliceOp,
    SubscriptOp,
    TileBeginOp,
    TilePropertyOp,
    TorchOp,
    ZerosOp,
    merged_names,
    result_names,
    spec_of,
)
from helion2json.core.schema import Func, validate_spec

__all__ = [
    "InterpretError",
    "Tile",
    "dtype_of",
    "run_document",
]

_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
# The dtype of hl.tile.index: Helion's index dtype, int32 unless a tensor needs 64-bit indices.
_INDEX_DTYPE = torch.int32


class InterpretError(Exception):
    """A document cannot be executed: an unknown op, a missing name, a failing operator.

    ``op_index`` is the op's position in ``funcs[].body``, ``op`` its ``"op"``
    string and ``loc`` its source location, when the error concerns one op.
    """

    def __init__(
        self,
        message: str,
        *,
        op_index: int | None = None,
        op: str | None = None,
        loc: Loc | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.op_index = op_index
        self.op = op
        self.loc = loc

    def __str__(self) -> str:
        if self.op_index is None:
            return self.message
        where = f" ({self.loc.file}:{self.loc.line})" if self.loc is not None else ""
        return f"body[{self.op_index}] {self.op}{where}: {self.message}"


def dtype_of(elem: str) -> torch.dtype:
    """The torch dtype of an element-type string (``"f32"`` → ``torch.float32``)."""
    try:
        return torch_dtype(elem)
    except ElementTypeError as exc:
        raise InterpretError(exc.message) from None


@dataclass(frozen=True)
class Tile:
    """One iteration's tile along one dimension of a tile loop."""

    offset: int
    size: int  # clamped: min(block, end - offset)
    block: int
    begin: int
    end: int


# ------------------------------------------------------------------ environment


class _Env:
    """Names in nested scopes, with the format's loop-carried assignment rule.

    Assigning a name that an enclosing scope already holds updates it there,
    which is what makes ``acc = addmm(acc, ...)`` inside a loop carry ``acc``
    from one iteration to the next and out of the loop. A new name lives in
    the innermost scope and disappears when its region ends.
    """

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = [{}]

    def get(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise InterpretError(f"'{name}' is not defined here")

    def set(self, name: str, value: Any) -> None:
        for scope in reversed(self.scopes):
            if name in scope:
                scope[name] = value
                return
        self.scopes[-1][name] = value

    def push(self, names: Mapping[str, Any] | None = None) -> None:
        self.scopes.append(dict(names or {}))

    def pop(self) -> None:
        self.scopes.pop()


# ------------------------------------------------------------------ program tree


@dataclass
class _Step:
    index: int
    op: Any
    run: Callable[[], None]


@dataclass
class _Loop:
    index: int
    op: TileBeginOp
    body: list[_Node]


@dataclass
class _If:
    index: int
    op: IfBeginOp
    then: list[_Node]
    orelse: list[_Node]
    # Names both branches define: they outlive the if, holding the taken branch's value.
    merged: frozenset[str] = frozenset()


_Node = _Step | _Loop | _If
_Combine = Callable[[list[torch.Tensor], list[torch.Tensor]], list[torch.Tensor]]


# ------------------------------------------------------------------ torch operators


@dataclass(frozen=True)
class _Param:
    name: str
    # tensor, tensors, dtype, layout, memory_format, device, generator, int, bool, number, other
    kind: str
    kwarg_only: bool
    # Read from ``args`` (tensors, tensor lists written there) rather than ``attrs``.
    in_args: bool


@dataclass(frozen=True)
class _TorchPlan:
    overload: Any
    params: tuple[_Param, ...]
    result_count: int
    # A matrix product: ATen multiplies operands of one element type only.
    matmul: bool


def _param_kind(argument: Any) -> str:
    # A single (optional) tensor travels in ``args``; everything else, tensor lists
    # included, in ``attrs`` by schema name: the same split the exporter makes.
    text = str(argument.type)
    if text.startswith("Tensor") or text.startswith("Optional[Tensor"):
        return "tensor"
    real = str(getattr(argument, "real_type", argument.type))
    if "Tensor" in real:
        return "tensors"
    for kind, marker in (
        ("dtype", "ScalarType"),
        ("layout", "Layout"),
        ("memory_format", "MemoryFormat"),
        ("device", "Device"),
        ("generator", "Generator"),
    ):
        if marker in real:
            return kind
    if "int" in real:
        return "int"
    if "bool" in real:
        return "bool"
    if "number" in real or "float" in real or "complex" in real:
        return "number"
    return "other"


def _torch_plan(op: TorchOp) -> _TorchPlan:
    path = op.op.split(".")[1:]
    namespace, name = ("aten", path[0]) if len(path) == 1 else (path[0], ".".join(path[1:]))
    packet = getattr(getattr(torch.ops, namespace, None), name, None)
    if packet is None:
        raise InterpretError(f"no PyTorch operator torch.ops.{namespace}.{name}")
    try:
        overload = getattr(packet, op.overload)
    except AttributeError:
        raise InterpretError(
            f"torch.ops.{namespace}.{name} has no overload {op.overload!r}"
        ) from None
    schema = overload._schema
    params = []
    for argument in schema.arguments:
        kind = _param_kind(argument)
        # A tensor list travels in ``args`` as a list of operands, or in ``attrs``.
        in_args = kind == "tensor" or (kind == "tensors" and argument.name not in op.attrs)
        params.append(_Param(argument.name, kind, argument.kwarg_only, in_args))
    tensors = sum(1 for p in params if p.in_args)
    if len(op.args) != tensors:
        raise InterpretError(
            f"{len(op.args)} args, but the schema {schema} has {tensors} tensor arguments"
        )
    names = {p.name for p in params if not p.in_args}
    unknown = sorted(set(op.attrs) - names)
    if unknown:
        raise InterpretError(f"attrs {unknown} are not non-tensor arguments of {schema}")
    missing = sorted(names - set(op.attrs))
    if missing:
        raise InterpretError(f"attrs {missing} of {schema} are missing (all must be written)")
    results = op.result if isinstance(op.result, list) else [op.result]
    result_count = len([r for r in results if r is not None])
    if len(schema.returns) != result_count and not (result_count == 1 and schema.returns):
        raise InterpretError(
            f"{result_count} results, but the schema {schema} returns {len(schema.returns)}"
        )
    matmul = namespace == "aten" and name in _MATMULS
    return _TorchPlan(overload, tuple(params), result_count, matmul)


# ------------------------------------------------------------------ executors


@dataclass(frozen=True)
class _Executor:
    # (interpreter, op) -> None, or (interpreter, op, plan) -> None with a ``plan``.
    run: Callable[..., None]
    # Work done once, when the program is built: it fails there, before anything runs.
    plan: Callable[[Any, Any], Any] | None


# The executor of each op name of the registry (``helion2json.core.ops``) that is not
# structure: tile loops and ifs are the program tree's nodes.
EXECUTORS: dict[str, _Executor] = {}


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
            EXECUTORS[name] = _Executor(run, plan)
        return run

    return register


# ------------------------------------------------------------------ the interpreter


class _Interpreter:
    """Executes one function's program tree; ``env`` holds the names in scope."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.env = _Env()
        self.exprs: dict[ex.Expr, ex.Node] = {}
        self.linear: dict[tuple[int, ...], torch.Tensor] = {}
        self.returned: list[Any] = []

    # -- building the program tree
    def build(self, body: Sequence[Any]) -> list[_Node]:
        stack: list[tuple[Any, list[_Node]]] = [(None, [])]
        for index, op in enumerate(body):
            try:
                self.build_op(index, op, stack)
            except InterpretError as exc:
                raise self.located(exc, index, op) from None
        if len(stack) != 1:
            raise InterpretError("a tile loop or if region is never closed")
        return stack[0][1]

    def build_op(self, index: int, op: Any, stack: list[tuple[Any, list[_Node]]]) -> None:
        current = stack[-1][1]
        spec = spec_of(op.op)
        region = spec.region if spec is not None else None
        if region is None:
            current.append(_Step(index, op, self.step(op)))
        elif region.role == "begin":
            opened: _Loop | _If = (
                _Loop(index, op, []) if region.kind == "hl.tile" else _If(index, op, [], [])
            )
            current.append(opened)
            stack.append((opened, opened.body if isinstance(opened, _Loop) else opened.then))
        elif region.role == "else":
            innermost = stack.pop()[0]
            if not isinstance(innermost, _If):
                raise InterpretError("hl.if.else outside an if region")
            stack.append((innermost, innermost.orelse))
        else:
            innermost = stack.pop()[0]
            expected = _Loop if region.kind == "hl.tile" else _If
            if not isinstance(innermost, expected):
                raise InterpretError(f"{op.op} does not close the innermost region")
            if isinstance(innermost, _If):
                innermost.merged = merged_names(
                    _defined(innermost.then), _defined(innermost.orelse)
                )

    def step(self, op: Any) -> Callable[[], None]:
        spec = spec_of(op.op)
        executor = EXECUTORS.get(spec.name) if spec is not None else None
        if executor is None:
            raise InterpretError("the interpreter does not implement this op")
        if executor.plan is None:
            return functools.partial(executor.run, self, op)
        return functools.partial(executor.run, self, op, executor.plan(self, op))

    @staticmethod
    def located(exc: InterpretError, index: int, op: Any) -> InterpretError:
        if exc.op_index is not None:
            return exc
        return InterpretError(exc.message, op_index=index, op=op.op, loc=op.loc)

    # -- running
    def run_block(self, nodes: list[_Node]) -> None:
        for node in nodes:
            try:
                if isinstance(node, _Step):
                    node.run()
                elif isinstance(node, _Loop):
                    self.run_loop(node)
                else:
                    self.run_if(node)
            except InterpretError as exc:
                raise self.located(exc, node.index, node.op) from None
            except (RuntimeError, ValueError, TypeError, IndexError, ZeroDivisionError) as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                raise self.located(
                    InterpretError(f"{type(exc).__name__}: {first}"), node.index, node.op
                ) from exc

    def run_loop(self, loop: _Loop) -> None:
        op = loop.op
        blocks = [self.int_expr(size) for size in op.sizes]
        begins = [self.int_expr(begin) for begin in op.begin]
        ends = [self.int_expr(end) for end in op.end]
        if any(block <= 0 for block in blocks):
            raise InterpretError(f"block sizes must be positive, got {blocks}")
        ranges = [range(b, e, s) for b, e, s in zip(begins, ends, blocks, strict=True)]
        # Dimension 0 is the outermost loop; parallel loops may run in any order,
        # so running them in this one order is one valid execution.
        for offsets in itertools.product(*ranges):
            tiles = {
                name: Tile(offset, min(block, end - offset), block, begin, end)
                for name, offset, block, begin, end in zip(
                    op.result, offsets, blocks, begins, ends, strict=True
                )
            }
            self.env.push(tiles)
            try:
                self.run_block(loop.body)
            finally:
                self.env.pop()

    def run_if(self, branch: _If) -> None:
        cond = self.operand(branch.op.cond)
        if isinstance(cond, torch.Tensor):
            if cond.numel() != 1:
                raise InterpretError(f"the condition has {cond.numel()} elements, not one")
            cond = cond.item()
        self.env.push()
        try:
            self.run_block(branch.then if cond else branch.orelse)
            scope = self.env.scopes[-1]
            merged = {name: scope[name] for name in branch.merged if name in scope}
        finally:
            self.env.pop()
        for name, value in merged.items():
            self.define(name, value)

    # -- expressions and operands
    def parse(self, value: ex.Expr) -> ex.Node:
        node = self.exprs.get(value)
        if node is None:
            try:
                node = ex.parse_expr(value)
            except ex.ExprSyntaxError as exc:
                raise InterpretError(f"invalid expression: {exc}") from None
            self.exprs[value] = node
        return node

    def int_expr(self, value: ex.Expr) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return ex.evaluate(self.parse(value), self.resolve)

    def resolve(self, node: ex.Node) -> int:
        if isinstance(node, ex.Dim):
            tensor = self.env.get(node.tensor)
            if not isinstance(tensor, torch.Tensor) or node.axis >= tensor.dim():
                raise InterpretError(f"dim({node.tensor},{node.axis}): no such tensor axis")
            return int(tensor.shape[node.axis])
        if isinstance(node, ex.Size):
            return self.tile(node.tile).size
        assert isinstance(node, ex.Ref)
        return _as_int(self.env.get(node.name), node.name)

    def tile(self, name: str) -> Tile:
        value = self.env.get(name)
        if not isinstance(value, Tile):
            raise InterpretError(f"'{name}' is not a tile")
        return value

    def operand(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            if value in _NON_FINITE:
                return _NON_FINITE[value]
            named = self.env.get(value)
            # A tile used as a value is its offset, as in expressions.
            return named.offset if isinstance(named, Tile) else named
        if isinstance(value, SliceOperand):
            return self.load_slice(value.slice)
        if isinstance(value, ExprOperand):
            return self.int_expr(value.expr)
        if isinstance(value, dict):
            # Attributes are free-form JSON: their operands arrive unparsed.
            model = SliceOperand if "slice" in value else ExprOperand
            try:
                return self.operand(model.model_validate(value))
            except PydanticValidationError:
                pass
        raise InterpretError(f"unsupported operand {value!r}")

    def tensor_operand(self, value: Any, what: str) -> torch.Tensor:
        result = self.operand(value)
        if not isinstance(result, torch.Tensor):
            raise InterpretError(f"{what} is {result!r}, not a tensor")
        return result

    def host_tensor(self, name: str) -> torch.Tensor:
        value = self.env.get(name)
        if not isinstance(value, torch.Tensor):
            raise InterpretError(f"'{name}' is not a tensor")
        return value

    def define(self, name: str, value: Any) -> None:
        self.env.set(name, value)

    # -- loads and stores
    def window(self, base: torch.Tensor, offsets: Sequence[ex.Expr], sizes: Sequence[int]) -> Any:
        if len(offsets) != base.dim():
            raise InterpretError(f"{len(offsets)} offsets into a tensor of rank {base.dim()}")
        index = []
        for axis, (offset_expr, size) in enumerate(zip(offsets, sizes, strict=True)):
            offset = self.int_expr(offset_expr)
            if offset < 0 or size < 0 or offset + size > base.shape[axis]:
                raise InterpretError(
                    f"window [{offset}, {offset + size}) is outside axis {axis} "
                    f"of extent {base.shape[axis]}"
                )
            index.append(slice(offset, offset + size))
        return tuple(index)

    def load_slice(self, spec: SliceSpec) -> torch.Tensor:
        base = self.host_tensor(spec.base)
        sizes = [self.int_expr(size) for size in spec.sizes]
        # A load is a value: later stores into the base must not change it.
        return base[self.window(base, spec.offsets, sizes)].clone()

    def index_items(
        self, entries: Sequence[IndexEntry], base: torch.Tensor | None, clamp: bool
    ) -> list[Any]:
        """Python index items for ``entries`` (``clamp``: keep positions inside ``base``)."""
        items: list[Any] = []
        axis = 0
        for entry in entries:
            extent = base.shape[axis] if base is not None and axis < base.dim() else None
            if isinstance(entry, TileIndex):
                tile = self.tile(entry.tile)
                items.append(slice(tile.offset, tile.offset + tile.size))
            elif isinstance(entry, FullIndex):
                items.append(slice(None))
            elif isinstance(entry, AtIndex):
                position = self.int_expr(entry.at)
                if clamp and extent is not None:
                    position = min(max(position, 0), extent - 1)
                items.append(position)
            elif isinstance(entry, TensorIndex):
                positions = self.env.get(entry.tensor)
                if not isinstance(positions, torch.Tensor):
                    positions = torch.as_tensor(positions, device=self.device)
                if clamp and extent is not None and positions.dtype != torch.bool:
                    # Masked-off positions may be out of range; they are never read.
                    positions = positions.clamp(0, extent - 1)
                items.append(positions)
            elif isinstance(entry, NewAxisIndex):
                items.append(None)
                continue
            axis += 1
        return items

    def gather(
        self, base: torch.Tensor, entries: Sequence[IndexEntry], mask: torch.Tensor | None
    ) -> torch.Tensor:
        items = self.index_items(entries, base, clamp=mask is not None)
        value = _take(base, items).clone()
        if mask is not None:
            value = torch.where(mask.to(torch.bool), value, torch.zeros_like(value))
        return value

    def positions(
        self, dst: torch.Tensor, entries: Sequence[IndexEntry], clamp: bool
    ) -> torch.Tensor:
        """The linear position in ``dst`` of every element an index selects."""
        shape = tuple(dst.shape)
        linear = self.linear.get(shape)
        if linear is None:
            linear = torch.arange(dst.numel(), device=dst.device).reshape(shape)
            self.linear[shape] = linear
        items = self.index_items(entries, dst, clamp=clamp)
        return _take(linear, items)

    @executes("hl.load")
    def op_load(self, op: LoadOp) -> None:
        mask = self.mask(op.mask)
        if op.slice is not None:
            value = self.load_slice(op.slice)
            if mask is not None:
                value = torch.where(mask, value, torch.zeros_like(value))
        else:
            assert op.base is not None and op.index is not None
            value = self.gather(self.host_tensor(op.base), op.index, mask)
        self.define(op.result, value)

    def mask(self, name: str | None) -> torch.Tensor | None:
        if name is None:
            return None
        value = self.env.get(name)
        if not isinstance(value, torch.Tensor):
            return torch.tensor(bool(value), device=self.device)
        return value.to(torch.bool)

    @executes("hl.store_slice")
    def op_store_slice(self, op: StoreSliceOp) -> None:
        dst = self.host_tensor(op.dst)
        src = self.operand(op.src)
        if op.sizes is not None:
            # The window is given; the source broadcasts to it.
            extents = [self.int_expr(size) for size in op.sizes]
            target = dst[self.window(dst, op.offsets, extents)]
            value = torch.as_tensor(src, device=dst.device).to(dst.dtype).expand(target.shape)
            mask = self.mask(op.mask)
            if mask is not None:
                value = torch.where(mask, value, target)
            target.copy_(value)
            return
        if not isinstance(src, torch.Tensor) or src.dim() != dst.dim():
            # The window's extents are the source's shape; a scalar or lower-rank
            # source leaves them unknown.
            got = f"rank {src.dim()}" if isinstance(src, torch.Tensor) else repr(src)
            raise InterpretError(
                f"hl.store_slice needs a source of the destination's rank {dst.dim()} "
                f"(its shape gives the window), got {got}"
            )
        target = dst[self.window(dst, op.offsets, list(src.shape))]
        mask = self.mask(op.mask)
        value = src.to(dst.dtype)
        if mask is not None:
            value = torch.where(mask, value, target)
        target.copy_(value)

    @executes("hl.store")
    def op_store(self, op: StoreOp) -> None:
        dst = self.host_tensor(op.dst)
        src = self.operand(op.src)
        mask = self.mask(op.mask)
        if mask is None and not any(isinstance(e, TensorIndex) for e in op.index):
            items = self.index_items(op.index, dst, clamp=False)
            dst[tuple(items)] = src.to(dst.dtype) if isinstance(src, torch.Tensor) else src
            return
        positions = self.positions(dst, op.index, clamp=mask is not None)
        values = _broadcast(src, positions.shape, dst)
        if mask is None:
            _write_linear(dst, positions.reshape(-1), values.reshape(-1))
            return
        selected = mask.broadcast_to(positions.shape)
        _write_linear(dst, positions[selected], values[selected])

    @executes(*get_args(AtomicOp.model_fields["op"].annotation))
    def op_atomic(self, op: AtomicOp) -> None:
        dst = self.host_tensor(op.dst)
        positions = self.positions(dst, op.index, clamp=False)
        values = _broadcast(self.operand(op.src), positions.shape, dst).reshape(-1)
        flat_positions = positions.reshape(-1)
        expected = None
        if op.op == "hl.atomic_cas":
            expected = _broadcast(self.operand(op.expected), positions.shape, dst).reshape(-1)
        old = _atomic(op.op, dst, flat_positions, values, expected, op.result is not None)
        if op.result is not None:
            self.define(op.result, old.reshape(positions.shape))

    # -- values
    def shape(self, exprs: Sequence[ex.Expr]) -> list[int]:
        return [self.int_expr(e) for e in exprs]

    @executes("hl.alloc")
    def op_alloc(self, op: AllocOp) -> None:
        dtype = dtype_of(op.dtype)
        shape = self.shape(op.shape)
        if op.fill is None:
            # Unspecified contents: poison them so a kernel (or a document) that
            # leaves part of an output unwritten cannot match its reference.
            fill = _poison(dtype)
        else:
            fill = _NON_FINITE.get(op.fill, op.fill) if isinstance(op.fill, str) else op.fill
        self.define(op.result, torch.full(shape, fill, dtype=dtype, device=self.device))

    @executes("hl.zeros")
    def op_zeros(self, op: ZerosOp) -> None:
        dtype = dtype_of(op.dtype)
        self.define(op.result, torch.zeros(self.shape(op.shape), dtype=dtype, device=self.device))

    @executes("hl.full")
    def op_full(self, op: FullOp) -> None:
        value = self.operand(op.value)
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise InterpretError(f"fill value has {value.numel()} elements, not one")
            value = value.item()
        dtype = dtype_of(op.dtype)
        self.define(
            op.result, torch.full(self.shape(op.shape), value, dtype=dtype, device=self.device)
        )

    @executes("hl.mask_to")
    def op_mask_to(self, op: MaskToOp) -> None:
        # Tiles are clamped to their extents, so no element lies outside them.
        self.define(op.result, self.env.get(op.src))

    @executes("hl.assign")
    def op_assign(self, op: AssignOp) -> None:
        self.define(op.result, self.operand(op.src))

    @executes("hl.subscript")
    def op_subscript(self, op: SubscriptOp) -> None:
        src = self.tensor_operand(op.src, "the subscripted value")
        if any(isinstance(entry, TileIndex) for entry in op.index):
            raise InterpretError(
                "a tile entry in hl.subscript has no documented meaning for a device value"
            )
        items = self.index_items(op.index, None, clamp=False)
        self.define(op.result, _take(src, items))

    @executes(*get_args(TilePropertyOp.model_fields["op"].annotation))
    def op_tile_property(self, op: TilePropertyOp) -> None:
        tile = self.tile(op.tile)
        value: Any
        if op.op == "hl.tile.index":
            value = torch.arange(
                tile.offset, tile.offset + tile.size, dtype=_INDEX_DTYPE, device=self.device
            )
        elif op.op == "hl.tile.begin_of":
            value = tile.offset
        elif op.op == "hl.tile.end_of":
            value = tile.offset + tile.size
        elif op.op == "hl.tile.id":
            value = tile.offset // tile.block
        else:  # hl.tile.count
            value = -(-(tile.end - tile.begin) // tile.block)
        self.define(op.result, value)

    @executes("hl.register_block_size")
    def op_register_block_size(self, op: RegisterBlockSizeOp) -> None:
        self.define(op.result, self.int_expr(op.size))

    @executes("hl.dot")
    def op_dot(self, op: DotOp) -> None:
        if len(op.args) not in (2, 3):
            raise InterpretError(f"hl.dot takes 2 or 3 args (a, b, acc), got {len(op.args)}")
        a = self.tensor_operand(op.args[0], "args[0]")
        b = self.tensor_operand(op.args[1], "args[1]")
        acc = self.tensor_operand(op.args[2], "args[2]") if len(op.args) == 3 else None
        self.define(op.result, _dot(a, b, acc, op.out_dtype, op.dtype))

    @executes("hl.split")
    def op_split(self, op: SplitOp) -> None:
        src = self.tensor_operand(op.src, "src")
        if src.shape[-1] != len(op.result):
            raise InterpretError(
                f"hl.split of a last axis of extent {src.shape[-1]} into {len(op.result)} values"
            )
        for name, part in zip(op.result, torch.unbind(src, dim=-1), strict=True):
            self.define(name, part)

    @executes("hl.join")
    def op_join(self, op: JoinOp) -> None:
        parts = [self.tensor_operand(arg, f"args[{i}]") for i, arg in enumerate(op.args)]
        self.define(op.result, torch.stack(torch.broadcast_tensors(*parts), dim=-1))

    @executes("hl.cumsum", "hl.cumprod")
    def op_scan(self, op: ScanOp) -> None:
        src = self.tensor_operand(op.src, "src")
        scan = torch.cumsum if op.op == "hl.cumsum" else torch.cumprod
        # torch widens integer scans to int64; Helion keeps the input's type.
        dtype = src.dtype if src.dtype != torch.bool else torch.int64
        if op.reverse:
            value = scan(src.flip(op.dim), op.dim, dtype=dtype).flip(op.dim)
        else:
            value = scan(src, op.dim, dtype=dtype)
        self.define(op.result, value)

    def combine(self, function: CombineFunction) -> _Combine:
        """A combine function as a callable on (left values, right values)."""
        try:
            program = self.build(function.body)
        except InterpretError as exc:
            raise InterpretError(f"in the combine function: {exc}") from None

        def call(left: list[torch.Tensor], right: list[torch.Tensor]) -> list[torch.Tensor]:
            outer = self.env
            # The function sees its parameters only: the left values, then the right ones.
            self.env = _Env()
            self.env.scopes[0].update(zip(function.params, [*left, *right], strict=True))
            try:
                self.run_block(program)
                return [self.env.get(name) for name in function.results]
            except InterpretError as exc:
                raise InterpretError(f"in the combine function: {exc}") from None
            finally:
                self.env = outer

        return call

    def combine_args(self, args: Sequence[Any], count: int) -> list[torch.Tensor]:
        values = [self.tensor_operand(arg, f"args[{i}]") for i, arg in enumerate(args)]
        if len(values) != count:
            raise InterpretError(f"{len(values)} args for {count} results")
        return list(torch.broadcast_tensors(*values))

    @executes("hl.reduce", plan=lambda interpreter, op: interpreter.combine(op.combine))
    def op_reduce(self, op: ReduceOp, combine: _Combine) -> None:
        values = self.combine_args(op.args, len(op.result))
        shape = values[0].shape
        if op.dim is None:
            values, dim = [v.reshape(-1) for v in values], 0
        else:
            dim = op.dim % max(values[0].dim(), 1)
        if values[0].shape[dim] == 0:
            raise InterpretError("hl.reduce over an empty axis has no value")
        # Pairs of neighbours fold until one is left: associativity is all this needs.
        while values[0].shape[dim] > 1:
            length = values[0].shape[dim]
            even = torch.arange(0, length - 1, 2, device=values[0].device)
            left = [v.index_select(dim, even) for v in values]
            right = [v.index_select(dim, even + 1) for v in values]
            folded = combine(left, right)
            if length % 2:
                folded = [
                    torch.cat([f, v.narrow(dim, length - 1, 1)], dim)
                    for f, v in zip(folded, values, strict=True)
                ]
            values = folded
        if op.dim is None:
            results = [v.reshape([1] * len(shape) if op.keep_dims else []) for v in values]
        else:
            results = values if op.keep_dims else [v.squeeze(dim) for v in values]
        for name, value in zip(op.result, results, strict=True):
            self.define(name, value)

    @executes("hl.associative_scan", plan=lambda interpreter, op: interpreter.combine(op.combine))
    def op_associative_scan(self, op: AssociativeScanOp, combine: _Combine) -> None:
        values = self.combine_args(op.args, len(op.result))
        dim = op.dim % max(values[0].dim(), 1)
        if op.reverse:
            # From the last element to the first, the running value on the left (as
            # Helion and Triton scan): a forward scan of the flipped values.
            values = [v.flip(dim) for v in values]
        length = values[0].shape[dim]
        offset = 1
        # Hillis-Steele: after the round with offset k, element i holds the fold of the 2k
        # elements ending at i, the earlier ones always on the left.
        while offset < length:
            left = [v.narrow(dim, 0, length - offset) for v in values]
            right = [v.narrow(dim, offset, length - offset) for v in values]
            folded = combine(left, right)
            values = [
                torch.cat([v.narrow(dim, 0, offset), f], dim)
                for v, f in zip(values, folded, strict=True)
            ]
            offset *= 2
        if op.reverse:
            values = [v.flip(dim) for v in values]
        for name, value in zip(op.result, values, strict=True):
            self.define(name, value)

    @executes("hl.barrier")
    def op_barrier(self, op: BarrierOp) -> None:
        # Grid loops run to completion one after the other: the barrier always holds.
        del op

    @executes("hl.return")
    def op_return(self, op: ReturnOp) -> None:
        self.returned = [self.env.get(name) for name in op.values]

    # -- torch math
    @executes(TORCH, plan=lambda interpreter, op: _torch_plan(op))
    def op_torch(self, op: TorchOp, plan: _TorchPlan) -> None:
        tensors = iter(op.args)
        positional: list[Any] = []
        keywords: dict[str, Any] = {}
        for param in plan.params:
            if param.in_args:
                given = next(tensors)
                value = (
                    [self.operand(item) for item in given]
                    if isinstance(given, list)
                    else self.operand(given)
                )
            else:
                value = self.attr(param, op.attrs[param.name])
            if op.operand_dtype is not None and param.kind in ("tensor", "tensors"):
                value = _convert_floating(value, dtype_of(op.operand_dtype))
            if param.kwarg_only:
                keywords[param.name] = value
            else:
                positional.append(value)
        if plan.matmul:
            _check_matmul_types(positional)
        result = plan.overload(*positional, **keywords)
        if op.result is None:
            return
        if isinstance(op.result, list):
            if not isinstance(result, tuple | list) or len(result) != len(op.result):
                raise InterpretError(f"expected {len(op.result)} results")
            for name, item in zip(op.result, result, strict=True):
                self.define(name, item)
        else:
            self.define(op.result, result)

    def attr(self, param: _Param, value: Any) -> Any:
        if isinstance(value, list):
            return [self.attr(param, item) for item in value]
        kind = param.kind
        if kind == "device":
            # Devices are written as null: the kernel runs where its inputs are.
            return self.device if value is None else torch.device(value)
        if value is None or isinstance(value, bool):
            return value
        if kind == "tensors":
            return self.operand(value)
        if kind == "dtype":
            return dtype_of(value)
        if kind in ("layout", "memory_format"):
            named = getattr(torch, str(value), None)
            if not isinstance(named, torch.layout | torch.memory_format):
                raise InterpretError(f"attr {param.name}: unknown {kind} {value!r}")
            return named
        if kind in ("int", "number", "bool") and isinstance(value, str):
            if value in _NON_FINITE:
                return _NON_FINITE[value]
            named = self.lookup(value)
            if named is not None:
                return _scalar(named, param.name)
            return self.int_expr(value)
        if isinstance(value, dict):
            return self.operand(value)
        return value

    def lookup(self, name: str) -> Any:
        """The value a bare name holds, or None when it is not a defined name."""
        if not name.isidentifier():
            return None
        try:
            return self.env.get(name)
        except InterpretError:
            return None


# ------------------------------------------------------------------ helpers

_MATMULS = frozenset(
    {"addmm", "addbmm", "baddbmm", "addmv", "addr", "bmm", "dot", "matmul", "mm", "mv"}
)


def _convert_floating(value: Any, dtype: torch.dtype) -> Any:
    """``value`` (a tensor or a list of them) with floating tensors converted to ``dtype``."""
    if isinstance(value, list):
        return [_convert_floating(item, dtype) for item in value]
    if isinstance(value, torch.Tensor) and value.dtype.is_floating_point:
        return value.to(dtype)
    return value


def _check_matmul_types(operands: Sequence[Any]) -> None:
    types = [dtype_label(t.dtype) for t in operands if isinstance(t, torch.Tensor)]
    if len(set(types)) > 1:
        raise InterpretError(
            f"operands of element types {', '.join(types)}: ATen multiplies matrices of one "
            "element type, and the op has no operand_dtype saying which one to compute in"
        )


def _defined(block: list[_Node]) -> frozenset[str]:
    """The names a block defines in its own scope (not inside its loops)."""
    names: set[str] = set()
    for node in block:
        if isinstance(node, _If):
            names |= node.merged
        elif isinstance(node, _Step):
            names.update(result_names(node.op))
    return frozenset(names)


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, Tile):
        return value.offset
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dtype.is_floating_point or value.dtype.is_complex:
            raise InterpretError(f"'{name}' is not an integer scalar")
        return int(value.item())
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InterpretError(f"'{name}' is {value!r}, not an integer")


def _scalar(value: Any, name: str) -> Any:
    if isinstance(value, Tile):
        return value.offset
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise InterpretError(f"attr {name}: a tensor of {value.numel()} elements")
        return value.item()
    return value


def _poison(dtype: torch.dtype) -> Any:
    if dtype.is_floating_point or dtype.is_complex:
        return math.nan
    if dtype == torch.bool:
        return True
    return torch.iinfo(dtype).min


def _take(base: torch.Tensor, items: list[Any]) -> torch.Tensor:
    """``base`` indexed by ``items`` (slices, ints, index tensors, None) as the format indexes.

    PyTorch's rules, except that two or more one-dimensional index tensors select
    the cartesian product of their positions, each contributing its own axis where
    it stands (as Helion indexes), where PyTorch would pair them up.
    """
    tensors = [
        item for item in items if isinstance(item, torch.Tensor) and item.dtype != torch.bool
    ]
    if len(tensors) < 2 or any(t.dim() != 1 for t in tensors):
        return base[tuple(items)]
    # Every entry becomes an index tensor along its own result axis; their outer
    # product then selects the cartesian product in entry order.
    consuming = [item for item in items if item is not None]
    axes = sum(1 for item in consuming if not isinstance(item, int))
    index: list[torch.Tensor] = []
    position = 0
    for axis, item in enumerate(consuming):
        if isinstance(item, int):
            index.append(torch.tensor(item, device=base.device))
            continue
        if isinstance(item, slice):
            item = torch.arange(*item.indices(base.shape[axis]), device=base.device)
        shape = [1] * axes
        shape[position] = -1
        index.append(item.reshape(shape))
        position += 1
    value = base[tuple(index)]
    # Each newaxis entry adds an axis of extent 1 where it stands.
    position = 0
    for item in items:
        if item is None:
            value = value.unsqueeze(position)
        if not isinstance(item, int):
            position += 1
    return value


def _broadcast(value: Any, shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(value, device=like.device).to(like.dtype)
    return tensor.broadcast_to(shape)


def _write_linear(dst: torch.Tensor, positions: torch.Tensor, values: torch.Tensor) -> None:
    if dst.is_contiguous():
        dst.view(-1)[positions] = values
        return
    flat = dst.contiguous().view(-1)
    flat[positions] = values
    dst.copy_(flat.view(dst.shape))


def _atomic(
    op: str,
    dst: torch.Tensor,
    positions: torch.Tensor,
    values: torch.Tensor,
    expected: torch.Tensor | None,
    want_old: bool,
) -> torch.Tensor:
    """Apply an atomic update element by element in row-major order; return the old values."""
    flat = dst.contiguous().view(-1)
    unique = positions.unique().numel() == positions.numel()
    old = flat[positions].clone()
    if unique or (not want_old and op in ("hl.atomic_add", "hl.atomic_max", "hl.atomic_min")):
        if op == "hl.atomic_add":
            flat.index_put_((positions,), values, accumulate=True)
        elif op in ("hl.atomic_max", "hl.atomic_min"):
            reduce = "amax" if op == "hl.atomic_max" else "amin"
            flat.scatter_reduce_(0, positions, values, reduce=reduce, include_self=True)
        else:
            flat[positions] = _combine(op, old, values, expected)
    else:
        # Repeated positions: each update sees the ones before it, as atomics do.
        for i in range(positions.numel()):
            position = positions[i]
            old[i] = flat[position]
            flat[position] = _combine(
                op, old[i], values[i], None if expected is None else expected[i]
            )
    if not dst.is_contiguous():
        dst.copy_(flat.view(dst.shape))
    return old


def _combine(
    op: str, old: torch.Tensor, value: torch.Tensor, expected: torch.Tensor | None
) -> torch.Tensor:
    if op == "hl.atomic_add":
        return old + value
    if op == "hl.atomic_max":
        return torch.maximum(old, value)
    if op == "hl.atomic_min":
        return torch.minimum(old, value)
    if op == "hl.atomic_and":
        return old & value
    if op == "hl.atomic_or":
        return old | value
    if op == "hl.atomic_xor":
        return old ^ value
    if op == "hl.atomic_xchg":
        return value
    assert expected is not None
    return torch.where(old == expected, value, old)  # hl.atomic_cas


def _dot(
    a: torch.Tensor,
    b: torch.Tensor,
    acc: torch.Tensor | None,
    out_elem: str | None,
    result_elem: str | None,
) -> torch.Tensor:
    """``a @ b`` accumulated in a wide type, rounded to ``out_dtype``, plus ``acc``."""
    if not (a.dtype.is_floating_point or b.dtype.is_floating_point):
        wide, accumulated = torch.int64, torch.int32
    elif torch.float64 in (a.dtype, b.dtype):
        wide = accumulated = torch.float64
    else:
        wide = accumulated = torch.float32
    product = torch.matmul(a.to(wide), b.to(wide))
    product = product.to(dtype_of(out_elem) if out_elem is not None else accumulated)
    result = product if acc is None else acc + product
    return result.to(dtype_of(result_elem)) if result_elem is not None else result


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


def _bind_arguments(func: Func, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    names = [arg.id for arg in func.args]
    if len(args) > len(names):
        raise InterpretError(f"{func.name} takes {len(names)} arguments, got {len(args)}")
    bound = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            raise InterpretError(f"{func.name} has no argument {key!r}")
        if key in bound:
            raise InterpretError(f"argument {key!r} given twice")
        bound[key] = value
    missing = [name for name in names if name not in bound]
    if missing:
        raise InterpretError(f"{func.name}: missing arguments {missing}")
    for arg in func.args:
        value = bound[arg.id]
        if isinstance(arg.type, TensorTypeBox):
            declared = arg.type.tensor
            if not isinstance(value, torch.Tensor):
                raise InterpretError(f"argument {arg.id!r} must be a tensor, got {value!r}")
            if value.dim() != len(declared.shape) or value.dtype != dtype_of(declared.elem):
                raise InterpretError(
                    f"argument {arg.id!r} is a {value.dim()}-d {value.dtype} tensor; the "
                    f"document declares {len(declared.shape)}-d {declared.elem}"
                )
        else:
            kind = arg.type.scalar
            accepted: tuple[type, ...] = {"i1": (bool,), "i64": (int,), "f64": (int, float)}[kind]
            if not isinstance(value, accepted) or (kind == "i64" and isinstance(value, bool)):
                raise InterpretError(f"argument {arg.id!r} must be a {kind} scalar, got {value!r}")
            if kind == "f64":
                bound[arg.id] = float(bound[arg.id])
    return bound


def run_document(
    document: Mapping[str, Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
    *,
    func: str | None = None,
) -> list[torch.Tensor]:
    """Execute one function of ``document`` on ``args``; return its ``hl.return`` values.

    The document is validated first (``helion2json.ValidationError``). Tensor
    arguments are used in place, as the kernel uses them: a kernel that writes
    into an argument writes into the tensor passed here (clone to keep it).
    Raises ``InterpretError`` naming the op, its index and source location when
    the document cannot be executed.
    """
    spec = validate_spec(dict(document))
    selected = _select_func(spec.module.funcs, func)
    bound = _bind_arguments(selected, args, kwargs or {})
    tensors = [value for value in bound.values() if isinstance(value, torch.Tensor)]
    device = tensors[0].device if tensors else torch.device("cpu")
    interpreter = _Interpreter(device)
    program = interpreter.build(selected.body)
    interpreter.env.scopes[0].update(bound)
    interpreter.run_block(program)
    returned = interpreter.returned
    if len(returned) != len(selected.rets):
        raise InterpretError(
            f"hl.return gives {len(returned)} values for {len(selected.rets)} rets"
        )
    for position, (value, ret) in enumerate(zip(returned, selected.rets, strict=True)):
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
