"""Lower one function of a document to MLIR text: regions, names, expressions and operands.

Host tensors (arguments, ``hl.alloc``) are memrefs with dynamic extents; device
values are tensors whose extents are ``index`` SSA values, so edge tiles are
real. Tile loops (grid loops too, run one program after another) are ``scf.for``
nests whose tile extent is ``arith.minsi(block, end - offset)``; names a loop or
an ``if`` assigns again are its ``iter_args`` / results. Each op family's lowering
lives in ``memory`` (loads, stores, atomics) and ``math`` (torch ops and the
``hl`` ops that compute); this module dispatches to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from helion2json.core import expr as ex
from helion2json.mlir.values import (
    Builder,
    HostValue,
    LoweringError,
    ScalarValue,
    TensorValue,
    TileValue,
    Value,
    is_float,
    mlir_elem,
)

Handler = Callable[["Lowering", Mapping[str, Any]], None]

# op name → its lowering; filled by the op families' modules when imported.
HANDLERS: dict[str, Handler] = {}

_NON_FINITE = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}


def lowers(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = handler
        return handler

    return register


@dataclass
class Node:
    op: Mapping[str, Any]
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] | None = None


def program_tree(body: Sequence[Mapping[str, Any]]) -> list[Node]:
    root: list[Node] = []
    stack: list[tuple[Node | None, list[Node]]] = [(None, root)]
    for op in body:
        name = op.get("op")
        if name in ("hl.tile.begin", "hl.if.begin"):
            node = Node(op)
            stack[-1][1].append(node)
            stack.append((node, node.body))
        elif name == "hl.if.else":
            opened = stack[-1][0]
            if opened is None:
                raise LoweringError("hl.if.else outside an if", op=name, loc=op.get("loc"))
            opened.orelse = []
            stack[-1] = (opened, opened.orelse)
        elif name in ("hl.tile.end", "hl.if.end"):
            if len(stack) == 1:
                raise LoweringError("closes no region", op=name, loc=op.get("loc"))
            stack.pop()
        else:
            stack[-1][1].append(Node(op))
    if len(stack) != 1:
        raise LoweringError("a tile loop or if region is never closed")
    return root


def results_of(op: Mapping[str, Any]) -> list[str]:
    result = op.get("result")
    if isinstance(result, str):
        return [result]
    if isinstance(result, list):
        return [name for name in result if isinstance(name, str)]
    return []


def assigned_names(block: Sequence[Node]) -> list[str]:
    """Every name a block's ops define, inside its nested regions too, in order."""
    names: list[str] = []
    for node in block:
        names += results_of(node.op)
        names += assigned_names(node.body)
        names += assigned_names(node.orelse or [])
    return list(dict.fromkeys(names))


class Lowering:
    """The state of one function's lowering: the builder and the names in scope."""

    def __init__(self, func: Mapping[str, Any]) -> None:
        self.func = func
        self.b = Builder()
        self.scopes: list[dict[str, Value]] = [{}]
        self.op: Mapping[str, Any] = {}
        self.returned: list[HostValue] = []
        # The kernel's random seeds parameter, when its body reads any (hl.rng_seed).
        self.seeds: HostValue | None = None

    # ------------------------------------------------------------ names

    def define(self, name: str, value: Value) -> None:
        self.scopes[-1][name] = value

    def lookup(self, name: str) -> Value:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise self.error(f"'{name}' is not defined")

    def has(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def rebind(self, name: str, value: Value) -> None:
        """Assign an existing name in the scope that holds it (a carried value's update)."""
        for scope in reversed(self.scopes):
            if name in scope:
                scope[name] = value
                return
        self.define(name, value)

    @contextmanager
    def scope(self) -> Iterator[dict[str, Value]]:
        self.scopes.append({})
        try:
            yield self.scopes[-1]
        finally:
            self.scopes.pop()

    def error(self, message: str) -> LoweringError:
        return LoweringError(message, op=self.op.get("op"), loc=self.op.get("loc"))

    # ------------------------------------------------------------ expressions

    def expr(self, value: Any) -> ScalarValue:
        """An expression (or integer) as ``index`` (integers, booleans) or ``f64`` (floats)."""
        if isinstance(value, bool):
            return ScalarValue(self.b.index(int(value)), "index")
        if isinstance(value, int):
            return ScalarValue(self.b.index(value), "index")
        try:
            node = ex.parse_expr(value)
        except (ex.ExprSyntaxError, TypeError) as exc:
            raise self.error(f"invalid expression {value!r}: {exc}") from None
        return self._node(node)

    def index_expr(self, value: Any) -> str:
        result = self.expr(value)
        if result.elem != "index":
            raise self.error(f"expression {value!r} is not an integer")
        return result.ssa

    def static_extent(self, value: Any) -> int | None:
        """An extent known when lowering: an integer literal (or one that parses to one)."""
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                node = ex.parse_expr(value)
            except ex.ExprSyntaxError:
                return None
            if isinstance(node, ex.Num) and isinstance(node.value, int):
                return int(node.value)
            if isinstance(node, ex.Size):
                # A tile of block 1 (an hl.grid index) has extent 1 in every iteration.
                tile = self.lookup(node.tile)
                if isinstance(tile, TileValue) and tile.static_block == 1:
                    return 1
        return None

    def _node(self, node: ex.Node) -> ScalarValue:
        b = self.b
        if isinstance(node, ex.Num):
            if isinstance(node.value, float):
                return ScalarValue(b.constant(node.value, "f64"), "f64")
            return ScalarValue(b.index(int(node.value)), "index")
        if isinstance(node, ex.Dim):
            return ScalarValue(self.extent(node.tensor, node.axis), "index")
        if isinstance(node, ex.Size):
            return ScalarValue(self.tile(node.tile).size, "index")
        if isinstance(node, ex.Ref):
            return self.scalar_of(node.name)
        if isinstance(node, ex.Neg):
            operand = self._node(node.operand)
            zero = b.constant(0, operand.elem)
            op = "arith.subf" if operand.elem == "f64" else "arith.subi"
            return ScalarValue(
                b.assign(f"{op} {zero}, {operand.ssa} : {operand.elem}"), operand.elem
            )
        assert isinstance(node, ex.BinOp)
        left, right = self._node(node.left), self._node(node.right)
        return self.binary(node.op, left, right)

    def binary(self, op: str, left: ScalarValue, right: ScalarValue) -> ScalarValue:
        b = self.b
        if op == "/" or "f64" in (left.elem, right.elem):
            left = ScalarValue(b.convert(left.ssa, left.elem, "f64"), "f64")
            right = ScalarValue(b.convert(right.ssa, right.elem, "f64"), "f64")
            return self._float_binary(op, left.ssa, right.ssa)
        lhs, rhs = left.ssa, right.ssa
        simple = {
            "+": "arith.addi",
            "-": "arith.subi",
            "*": "arith.muli",
            "//": "arith.floordivsi",
            "min": "arith.minsi",
            "max": "arith.maxsi",
            "cdiv": "arith.ceildivsi",
        }
        if op in simple:
            return ScalarValue(b.assign(f"{simple[op]} {lhs}, {rhs} : index"), "index")
        if op == "%":
            # Python's modulo takes the divisor's sign: a - floor(a / b) * b.
            quotient = b.assign(f"arith.floordivsi {lhs}, {rhs} : index")
            product = b.assign(f"arith.muli {quotient}, {rhs} : index")
            return ScalarValue(b.assign(f"arith.subi {lhs}, {product} : index"), "index")
        predicate = _INT_PREDICATES.get(op)
        if predicate is None:
            raise self.error(f"unknown operator {op!r} in an expression")
        flag = b.assign(f"arith.cmpi {predicate}, {lhs}, {rhs} : index")
        return ScalarValue(b.convert(flag, "i1", "index"), "index")

    def _float_binary(self, op: str, lhs: str, rhs: str) -> ScalarValue:
        b = self.b
        simple = {
            "+": "arith.addf",
            "-": "arith.subf",
            "*": "arith.mulf",
            "/": "arith.divf",
            "min": "arith.minimumf",
            "max": "arith.maximumf",
        }
        if op in simple:
            return ScalarValue(b.assign(f"{simple[op]} {lhs}, {rhs} : f64"), "f64")
        if op in ("//", "%", "cdiv"):
            quotient = b.assign(f"arith.divf {lhs}, {rhs} : f64")
            floored = b.assign(f"math.floor {quotient} : f64")
            if op == "//":
                return ScalarValue(floored, "f64")
            if op == "cdiv":
                return ScalarValue(b.assign(f"math.ceil {quotient} : f64"), "f64")
            product = b.assign(f"arith.mulf {floored}, {rhs} : f64")
            return ScalarValue(b.assign(f"arith.subf {lhs}, {product} : f64"), "f64")
        predicate = _FLOAT_PREDICATES.get(op)
        if predicate is None:
            raise self.error(f"unknown operator {op!r} in an expression")
        flag = b.assign(f"arith.cmpf {predicate}, {lhs}, {rhs} : f64")
        return ScalarValue(b.convert(flag, "i1", "index"), "index")

    def scalar_of(self, name: str) -> ScalarValue:
        """A name used in an expression: a tile's offset, a scalar, a one-element value."""
        value = self.lookup(name)
        if isinstance(value, TileValue):
            return ScalarValue(value.offset, "index")
        if isinstance(value, ScalarValue):
            if value.elem in ("index", "f64"):
                return value
            if is_float(value.elem):
                return ScalarValue(self.b.convert(value.ssa, value.elem, "f64"), "f64")
            return ScalarValue(self.b.convert(value.ssa, value.elem, "index"), "index")
        if isinstance(value, TensorValue):
            return self.scalar_of_tensor(value, name)
        raise self.error(f"'{name}' is a host tensor, not a scalar")

    def scalar_of_tensor(self, value: TensorValue, name: str) -> ScalarValue:
        zeros = [self.b.index(0) for _ in value.shape]
        element = self.b.assign(f"tensor.extract {value.ssa}[{', '.join(zeros)}] : {value.type}")
        scalar = ScalarValue(element, value.elem)
        target = "f64" if is_float(value.elem) else "index"
        return ScalarValue(self.b.convert(scalar.ssa, scalar.elem, target), target)

    def extent(self, name: str, axis: int) -> str:
        value = self.lookup(name)
        if isinstance(value, HostValue | TensorValue) and axis < len(value.dims):
            return value.dims[axis]
        raise self.error(f"dim({name},{axis}): no such tensor axis")

    def tile(self, name: str) -> TileValue:
        value = self.lookup(name)
        if not isinstance(value, TileValue):
            raise self.error(f"'{name}' is not a tile")
        return value

    # ------------------------------------------------------------ operands

    def operand(self, value: Any) -> TensorValue | ScalarValue:
        """A device operand: a tensor, or a scalar of its own type (literals: ``i64``/``f64``)."""
        if isinstance(value, bool):
            return ScalarValue(self.b.constant(value, "i1"), "i1")
        if isinstance(value, int):
            return ScalarValue(self.b.constant(value, "i64"), "i64")
        if isinstance(value, float):
            return ScalarValue(self.b.constant(value, "f64"), "f64")
        if isinstance(value, str):
            if value in _NON_FINITE:
                return ScalarValue(self.b.constant(_NON_FINITE[value], "f64"), "f64")
            if not value.isidentifier():
                # Scalar attributes may be expressions of scalars ("1 + seed").
                return self.operand({"expr": value})
            named = self.lookup(value)
            if isinstance(named, TileValue):
                return ScalarValue(self.b.convert(named.offset, "index", "i64"), "i64")
            if isinstance(named, HostValue):
                raise self.error(f"host tensor '{value}' used as a device value without a load")
            return named
        if isinstance(value, Mapping) and "slice" in value:
            from helion2json.mlir.memory import load_slice

            return load_slice(self, value["slice"])
        if isinstance(value, Mapping) and "expr" in value:
            result = self.expr(value["expr"])
            if result.elem == "index":
                return ScalarValue(self.b.convert(result.ssa, "index", "i64"), "i64")
            return result
        raise self.error(f"unsupported operand {value!r}")

    def host(self, name: str) -> HostValue:
        value = self.lookup(name)
        if not isinstance(value, HostValue):
            raise self.error(f"'{name}' is not a host tensor")
        return value

    # ------------------------------------------------------------ tensors

    def tensor_type(self, elem: str, shape: Sequence[int | None]) -> str:
        return TensorValue("", mlir_elem(elem), tuple(shape), ()).type

    def with_dims(self, ssa: str, elem: str, shape: Sequence[int | None]) -> TensorValue:
        """A tensor SSA value whose extents are read back with ``tensor.dim``."""
        value = TensorValue(ssa, elem, tuple(shape), ())
        dims = []
        for axis, extent in enumerate(shape):
            if extent is None:
                axis_index = self.b.index(axis)
                dims.append(self.b.assign(f"tensor.dim {ssa}, {axis_index} : {value.type}"))
            else:
                dims.append(self.b.index(extent))
        return TensorValue(ssa, elem, tuple(shape), tuple(dims))

    def cast(self, value: TensorValue, shape: Sequence[int | None]) -> TensorValue:
        """``value`` as a tensor of the same extents with static/dynamic axes ``shape``."""
        if tuple(shape) == value.shape:
            return value
        target = TensorValue("", value.elem, tuple(shape), value.dims)
        ssa = self.b.assign(f"tensor.cast {value.ssa} : {value.type} to {target.type}")
        return TensorValue(ssa, value.elem, tuple(shape), value.dims)

    # ------------------------------------------------------------ regions

    def block(self, nodes: Sequence[Node]) -> None:
        for node in nodes:
            try:
                self.node(node)
            except LoweringError as exc:
                if exc.op is None:
                    # Element-type and other op-agnostic errors get the op they arose in.
                    op, loc = node.op.get("op"), node.op.get("loc")
                    raise LoweringError(exc.message, op=op, loc=loc) from None
                raise

    def node(self, node: Node) -> None:
        self.op = node.op
        name = str(node.op.get("op"))
        if name == "hl.tile.begin":
            self.tile_loop(node)
        elif name == "hl.if.begin":
            self.branch(node)
        else:
            handler = HANDLERS.get("torch.*" if name.startswith("torch.") else name)
            if handler is None:
                raise self.error("this op is not lowered to MLIR")
            handler(self, node.op)
            self.refine_to_recorded_types(node.op)

    def refine_to_recorded_types(self, op: Mapping[str, Any]) -> None:
        """Make the extents the document records as numbers static in the values' types:
        an axis of extent 1 then broadcasts, whatever the tile sizes at run time."""
        types = op.get("types") or ([op["type"]] if op.get("type") else [])
        for name, recorded in zip(results_of(op), types, strict=False):
            value = self.scopes[-1].get(name)
            if not isinstance(value, TensorValue) or "tensor" not in recorded:
                continue
            extents = recorded["tensor"].get("shape", [])
            if len(extents) != len(value.shape):
                raise self.error(
                    f"'{name}' has rank {len(value.shape)}, its recorded type {len(extents)}"
                )
            shape = [
                self.static_extent(extent) if known is None else known
                for extent, known in zip(extents, value.shape, strict=True)
            ]
            self.scopes[-1][name] = self.cast(value, shape)

    def carried(self, nodes: Sequence[Node]) -> list[str]:
        return [name for name in assigned_names(nodes) if self.has(name)]

    def carried_values(self, names: Sequence[str]) -> list[TensorValue | ScalarValue]:
        values = []
        for name in names:
            value = self.lookup(name)
            if not isinstance(value, TensorValue | ScalarValue):
                raise self.error(f"'{name}' is assigned again inside a region but is not a value")
            values.append(value)
        return values

    def rebound(self, value: TensorValue | ScalarValue, ssa: str) -> TensorValue | ScalarValue:
        if isinstance(value, ScalarValue):
            return ScalarValue(ssa, value.elem)
        return self.with_dims(ssa, value.elem, value.shape)

    def yielded(self, names: Sequence[str], like: Sequence[TensorValue | ScalarValue]) -> list[str]:
        """The SSA names of ``names`` now, converted to the types of ``like``."""
        out = []
        for name, model in zip(names, like, strict=True):
            value = self.lookup(name)
            if isinstance(model, ScalarValue):
                if not isinstance(value, ScalarValue):
                    raise self.error(f"'{name}' changes from a scalar to a tensor in a region")
                out.append(self.b.convert(value.ssa, value.elem, model.elem))
                continue
            if not isinstance(value, TensorValue) or value.elem != model.elem:
                raise self.error(f"'{name}' changes its type inside a region")
            out.append(self.cast(value, model.shape).ssa)
        return out

    def tile_loop(self, node: Node) -> None:
        op = node.op
        b = self.b
        names = self.carried(node.body)
        initial = self.carried_values(names)
        types = ", ".join(value.type for value in initial)
        loops = []
        for position, tile_name in enumerate(op["result"]):
            begin = self.index_expr(op["begin"][position])
            end = self.index_expr(op["end"][position])
            block = self.index_expr(op["sizes"][position])
            loops.append((tile_name, begin, end, block, self.static_extent(op["sizes"][position])))
        current = [value.ssa for value in initial]
        results: list[str] = []
        tiles: dict[str, Value] = {}
        for tile_name, begin, end, block, static_block in loops:
            offset = b.fresh("off")
            args = [b.fresh("it") for _ in names]
            carry = ", ".join(f"{a} = {c}" for a, c in zip(args, current, strict=True))
            result = b.fresh("loop")
            header = f"scf.for {offset} = {begin} to {end} step {block}"
            if names:
                header = f"{result}:{len(names)} = {header} iter_args({carry}) -> ({types})"
            b.line(header + " {")
            b.depth += 1
            remaining = b.assign(f"arith.subi {end}, {offset} : index")
            size = b.assign(f"arith.minsi {block}, {remaining} : index")
            tiles[tile_name] = TileValue(offset, size, block, begin, end, static_block)
            results.append(result)
            current = args
        with self.scope() as scope:
            scope.update(tiles)
            for name, value, ssa in zip(names, initial, current, strict=True):
                scope[name] = self.rebound(value, ssa)
            self.block(node.body)
            self.op = op
            yielded = self.yielded(names, initial)
        for level in reversed(range(len(loops))):
            if names:
                b.line(f"scf.yield {', '.join(yielded)} : {types}")
            b.depth -= 1
            b.line("}")
            yielded = [f"{results[level]}#{i}" for i in range(len(names))]
        for name, value, ssa in zip(names, initial, yielded, strict=True):
            self.rebind(name, self.rebound(value, ssa))

    def branch(self, node: Node) -> None:
        op = node.op
        b = self.b
        cond = self.condition(op.get("cond"))
        then_names = assigned_names(node.body)
        else_names = assigned_names(node.orelse or [])
        names = [n for n in dict.fromkeys(then_names + else_names) if self.has(n)]
        both = [n for n in then_names if n in else_names and not self.has(n)]
        initial = self.carried_values(names)
        result = b.fresh("if")
        # New names that both branches define take the then branch's type (made dynamic
        # where the branches could disagree).
        outputs = list(names) + both
        models: list[TensorValue | ScalarValue] = list(initial)
        branch_values: list[list[str]] = []
        header_at = len(b.lines)
        b.line("")
        for index, branch in enumerate((node.body, node.orelse or [])):
            if index:
                b.line("} else {")
            with b.nested(), self.scope():
                self.block(branch)
                self.op = op
                if index == 0:
                    for name in both:
                        value = self.lookup(name)
                        if isinstance(value, TensorValue):
                            value = self.cast(value, [None] * len(value.shape))
                        if not isinstance(value, TensorValue | ScalarValue):
                            raise self.error(f"'{name}' is not a value")
                        models.append(value)
                values = self.yielded(outputs, models)
                branch_values.append(values)
                if outputs:
                    b.line(f"scf.yield {', '.join(values)} : {', '.join(m.type for m in models)}")
        b.line("}")
        types = ", ".join(m.type for m in models)
        prefix = f"{result}:{len(outputs)} = " if outputs else ""
        suffix = f" -> ({types})" if outputs else ""
        b.lines[header_at] = "  " * b.depth + f"{prefix}scf.if {cond}{suffix} {{"
        for position, (name, model) in enumerate(zip(outputs, models, strict=True)):
            value = self.rebound(model, f"{result}#{position}")
            if name in names:
                self.rebind(name, value)
            else:
                self.define(name, value)

    def condition(self, value: Any) -> str:
        operand = self.operand(value)
        if isinstance(operand, TensorValue):
            scalar = self.scalar_of_tensor(operand, str(value))
            operand = scalar
        return self.b.convert(operand.ssa, operand.elem, "i1")


_INT_PREDICATES = {"==": "eq", "!=": "ne", "<": "slt", "<=": "sle", ">": "sgt", ">=": "sge"}
_FLOAT_PREDICATES = {"==": "oeq", "!=": "une", "<": "olt", "<=": "ole", ">": "ogt", ">=": "oge"}
