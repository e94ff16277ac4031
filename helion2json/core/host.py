"""A small evaluator for a kernel's host code (the statements around device loops).

Helion specialises sizes to integers (``static_shapes=True``), which loses where
an extent came from: ``m, k = x.size()`` becomes ``4``. The format wants
``dim(x,0)``, so this evaluator replays the host statements over symbolic
values: tensor dims, integer arguments, arithmetic, and the tensor factories
that allocate outputs. Anything it does not understand becomes unknown; the
translator then falls back to the concrete value from the IR, so an unknown
expression is never wrong, only less general.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helion2json.core import expr as ex
from helion2json.core.errors import SourceLocation, relative_source_path

_FACTORIES = {"empty": None, "zeros": 0, "ones": 1, "full": "arg"}
_LIKE_FACTORIES = {"empty_like": None, "zeros_like": 0, "ones_like": 1, "full_like": "arg"}
_NEW_FACTORIES = {"new_empty": None, "new_zeros": 0, "new_ones": 1, "new_full": "arg"}


@dataclass
class HostValue:
    """What the evaluator knows about a host value; all None means unknown."""

    expr: ex.Node | None = None
    tensor: str | None = None
    items: list[HostValue] | None = None
    number: float | None = None
    # A tensor a factory call allocates; ``assign`` names it. ``allocation`` is None
    # when the factory's fill is not a constant (the format cannot express it).
    allocated: bool = False
    allocation: HostFactory | None = None
    # A tensor computed from another by a view or reshape; ``assign`` names it.
    view: HostView | None = None


@dataclass
class HostFactory:
    """A tensor allocated on the host by a factory (``torch.empty``, ``zeros_like``...)."""

    shape: list[ex.Node | None] | None
    fill: float | int | bool | None
    line: int  # 1-based within the kernel's source
    col: int


@dataclass
class HostView:
    """A host tensor computed from another by one ATen op (``reshape``, ``transpose``...).

    ``attrs`` are the op's non-tensor arguments, expressions written as the format
    writes them; ``shape`` is the result's extent per axis where it is known.
    """

    aten: str
    overload: str
    source: str
    attrs: dict[str, Any]
    shape: list[ex.Node | None]
    line: int  # 1-based within the kernel's source
    col: int


@dataclass
class HostEvaluator:
    param_names: list[str]
    ranks: dict[str, int] = field(default_factory=dict)
    env: dict[str, HostValue] = field(default_factory=dict)
    factories: dict[str, HostFactory] = field(default_factory=dict)
    views: dict[str, HostView] = field(default_factory=dict)
    definitions: dict[str, ast.stmt] = field(default_factory=dict)
    # The config's value of every ``hl.register_tunable`` parameter, by name.
    tunables: dict[str, object] = field(default_factory=dict)
    # Evaluates an expression to an int on the example arguments (None when it cannot).
    concrete: Callable[[ex.Node], int | None] | None = None

    def bind_params(self, ranks: dict[str, int | None]) -> None:
        for name, rank in ranks.items():
            if rank is None:
                self.env[name] = HostValue(expr=ex.Ref(name))
            else:
                self.ranks[name] = rank
                self.env[name] = HostValue(tensor=name)

    def bind_tensor_list(self, name: str, items: dict[str, int]) -> None:
        """A list argument whose items are the tensors ``items`` (name: rank), in order."""
        self.bind_params(dict(items))
        self.env[name] = HostValue(items=[self.env[item] for item in items])

    # -- statements
    def run(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign):
            value = self.value(stmt.value)
            for target in stmt.targets:
                self.assign(target, value, stmt)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self.assign(stmt.target, self.value(stmt.value), stmt)
        else:
            # Whatever else a statement assigns is no longer what we knew.
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    self.forget(node.id)

    def forget(self, name: str) -> None:
        self.env.pop(name, None)
        self.factories.pop(name, None)
        self.views.pop(name, None)
        self.ranks.pop(name, None)

    def assign(self, target: ast.expr, value: HostValue, stmt: ast.stmt) -> None:
        if isinstance(target, ast.Name):
            self.forget(target.id)
            self.definitions[target.id] = stmt
            self.env[target.id] = value
            if value.allocated:
                factory = value.allocation
                self.env[target.id] = HostValue(tensor=target.id)
                if factory is not None:
                    self.factories[target.id] = factory
                    if factory.shape is not None:
                        self.ranks[target.id] = len(factory.shape)
            elif value.view is not None:
                self.env[target.id] = HostValue(tensor=target.id)
                self.views[target.id] = value.view
                self.ranks[target.id] = len(value.view.shape)
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            items = value.items
            for position, element in enumerate(target.elts):
                item = items[position] if items is not None and position < len(items) else None
                self.assign(element, item or HostValue(), stmt)
            return
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                self.forget(node.id)

    # -- expressions
    def value(self, node: ast.expr) -> HostValue:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return HostValue(number=node.value)
            if isinstance(node.value, int):
                return HostValue(expr=ex.Num(node.value), number=node.value)
            if isinstance(node.value, float):
                return HostValue(number=node.value)
            return HostValue()
        if isinstance(node, ast.Name):
            return self.env.get(node.id, HostValue())
        if isinstance(node, (ast.Tuple, ast.List)):
            items: list[HostValue] = []
            for element in node.elts:
                if isinstance(element, ast.Starred):
                    inner = self.value(element.value)
                    if inner.items is None:
                        return HostValue()
                    items.extend(inner.items)
                else:
                    items.append(self.value(element))
            return HostValue(items=items)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = self.value(node.operand)
            return HostValue(
                expr=ex.Neg(operand.expr) if operand.expr is not None else None,
                number=-operand.number if operand.number is not None else None,
            )
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        return HostValue()

    def binop(self, node: ast.BinOp) -> HostValue:
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//"}
        # Helion's AST wraps node classes, so match with isinstance rather than by type.
        symbol = next((s for cls, s in ops.items() if isinstance(node.op, cls)), None)
        left, right = self.value(node.left), self.value(node.right)
        if symbol is None or left.expr is None or right.expr is None:
            return HostValue()
        return HostValue(expr=ex.BinOp(symbol, left.expr, right.expr))

    def shape_of(self, name: str) -> list[HostValue] | None:
        rank = self.ranks.get(name)
        if rank is None:
            return None
        return [HostValue(expr=ex.Dim(name, axis)) for axis in range(rank)]

    def extents(self, name: str) -> list[ex.Node | None] | None:
        """A host tensor's extents in terms of the arguments' (not ``dim()`` of itself)."""
        view = self.views.get(name)
        if view is not None:
            return view.shape
        factory = self.factories.get(name)
        if factory is not None:
            return factory.shape
        rank = self.ranks.get(name)
        return None if rank is None else [ex.Dim(name, axis) for axis in range(rank)]

    def attribute(self, node: ast.Attribute) -> HostValue:
        base = self.value(node.value)
        if base.tensor is not None and node.attr == "shape":
            shape = self.shape_of(base.tensor)
            return HostValue(items=shape) if shape is not None else HostValue()
        if base.tensor is not None and node.attr == "ndim" and base.tensor in self.ranks:
            return HostValue(expr=ex.Num(self.ranks[base.tensor]))
        if _dotted(node) in ("math.inf", "torch.inf"):
            return HostValue(number=math.inf)
        return HostValue()

    def subscript(self, node: ast.Subscript) -> HostValue:
        base = self.value(node.value)
        if base.tensor is not None:
            return self.tensor_subscript(base.tensor, node)
        if base.items is None:
            return HostValue()
        if isinstance(node.slice, ast.Slice):
            bounds = [self.constant_int(part) for part in (node.slice.lower, node.slice.upper)]
            step = self.constant_int(node.slice.step)
            if any(b is False for b in bounds) or step is False:
                return HostValue()
            lower, upper = (b if isinstance(b, int) else None for b in bounds)
            stride = step if isinstance(step, int) else None
            return HostValue(items=base.items[lower:upper:stride])
        position = self.constant_int(node.slice)
        if not isinstance(position, int) or position is True:
            return HostValue()
        try:
            return base.items[position]
        except IndexError:
            return HostValue()

    def constant_int(self, node: ast.expr | None) -> int | bool | None:
        """An int for a literal index, None for an omitted one, False when unknown."""
        if node is None:
            return None
        value = self.value(node)
        constant = value.expr
        negated = isinstance(constant, ex.Neg)
        if isinstance(constant, ex.Neg):
            constant = constant.operand
        if isinstance(constant, ex.Num) and type(constant.value) is int:
            return -constant.value if negated else constant.value
        return False

    def call(self, node: ast.Call) -> HostValue:
        func = node.func
        name = _dotted(func)
        if isinstance(func, ast.Attribute):
            base = self.value(func.value)
            if base.tensor is not None:
                return self.tensor_method(base.tensor, func.attr, node)
        if name in ("min", "max") and len(node.args) == 2 and not node.keywords:
            left, right = self.value(node.args[0]), self.value(node.args[1])
            if left.expr is not None and right.expr is not None:
                return HostValue(expr=ex.BinOp(name, left.expr, right.expr))
            return HostValue()
        if name.split(".")[-1] == "cdiv" and len(node.args) == 2:
            left, right = self.value(node.args[0]), self.value(node.args[1])
            if left.expr is not None and right.expr is not None:
                return HostValue(expr=ex.BinOp("cdiv", left.expr, right.expr))
            return HostValue()
        if name == "len" and len(node.args) == 1:
            inner = self.value(node.args[0])
            return (
                HostValue(expr=ex.Num(len(inner.items))) if inner.items is not None else HostValue()
            )
        if name == "float" and len(node.args) == 1:
            argument = node.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                try:
                    return HostValue(number=float(argument.value))
                except ValueError:
                    return HostValue()
            return HostValue(number=self.value(argument).number)
        if name.split(".")[-1] == "register_tunable" and node.args:
            return self.tunable(node.args[0])
        if name.split(".")[-1] == "next_power_of_2" and len(node.args) == 1:
            # Not in the expression grammar: the config's block size is what matters,
            # so evaluate it on the example arguments.
            inner = self.value(node.args[0])
            value = self.concrete(inner.expr) if inner.expr and self.concrete else None
            if value is None:
                return HostValue()
            power = 1 if value <= 1 else 1 << (value - 1).bit_length()
            return HostValue(expr=ex.Num(power), number=power)
        if name.startswith("torch.") and name[6:] in _VIEW_METHODS and node.args:
            base = self.value(node.args[0])
            if base.tensor is not None and not node.keywords:
                return self.view_call(base.tensor, name[6:], node.args[1:], node)
        if name.startswith("torch.") and name[6:] in _FACTORIES:
            return self.factory(node, _FACTORIES[name[6:]], node.args, like=None)
        if name.startswith("torch.") and name[6:] in _LIKE_FACTORIES and node.args:
            like = self.value(node.args[0])
            return self.factory(node, _LIKE_FACTORIES[name[6:]], node.args[1:], like=like.tensor)
        return HostValue()

    def tunable(self, name_node: ast.expr) -> HostValue:
        """``hl.register_tunable("name", ...)``: the value the config gives it."""
        if not (isinstance(name_node, ast.Constant) and isinstance(name_node.value, str)):
            return HostValue()
        value = self.tunables.get(name_node.value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return HostValue()
        if isinstance(value, int):
            return HostValue(expr=ex.Num(value), number=value)
        return HostValue(number=value)

    def tensor_method(self, tensor: str, method: str, node: ast.Call) -> HostValue:
        if method == "size":
            shape = self.shape_of(tensor)
            if shape is None:
                return HostValue()
            if not node.args:
                return HostValue(items=shape)
            axis = self.constant_int(node.args[0])
            if isinstance(axis, int) and -len(shape) <= axis < len(shape):
                return shape[axis]
            return HostValue()
        if method == "dim" and tensor in self.ranks:
            return HostValue(expr=ex.Num(self.ranks[tensor]))
        if method == "numel":
            shape = self.shape_of(tensor)
            if not shape:
                return HostValue()
            product: ex.Node = shape[0].expr  # type: ignore[assignment]
            for item in shape[1:]:
                product = ex.BinOp("*", product, item.expr)  # type: ignore[arg-type]
            return HostValue(expr=product)
        if method in _NEW_FACTORIES:
            return self.factory(node, _NEW_FACTORIES[method], node.args, like=None)
        if method in _VIEW_METHODS and not node.keywords:
            return self.view_call(tensor, method, node.args, node)
        return HostValue()

    # -- views: host tensors computed from others
    def view_call(self, tensor: str, method: str, args: list[ast.expr], node: ast.AST) -> HostValue:
        """``x.reshape(...)``, ``x.transpose(0, 1)``...: the ATen op and the result's extents."""
        source = self.extents(tensor)
        if source is None:
            return HostValue()
        rank = len(source)
        if method in ("reshape", "view"):
            sizes = self.size_list(args)
            if sizes is None:
                return HostValue()
            shape = _resolve_inferred(sizes, source)
            attr = "shape" if method == "reshape" else "size"
            return self.make_view(method, "default", tensor, {attr: _exprs(sizes)}, shape, node)
        if method == "contiguous" and not args:
            return self.make_view("contiguous", "default", tensor, {}, list(source), node)
        axes = [self.constant_int(arg) for arg in args]
        if any(a is False or a is None or a is True for a in axes):
            return HostValue()
        ints = [int(a) for a in axes]  # type: ignore[arg-type]
        if method == "transpose" and len(ints) == 2:
            first, second = (_axis(a, rank) for a in ints)
            if first is None or second is None:
                return HostValue()
            shape = list(source)
            shape[first], shape[second] = shape[second], shape[first]
            attrs = {"dim0": first, "dim1": second}
            return self.make_view("transpose", "int", tensor, attrs, shape, node)
        if method == "t" and not ints and rank == 2:
            return self.make_view("t", "default", tensor, {}, source[::-1], node)
        if method == "permute" and ints:
            order = [_axis(a, rank) for a in ints]
            if None in order or sorted(order) != list(range(rank)):  # type: ignore[type-var]
                return HostValue()
            shape = [source[a] for a in order]  # type: ignore[index]
            return self.make_view("permute", "default", tensor, {"dims": order}, shape, node)
        if method == "unsqueeze" and len(ints) == 1:
            axis = _axis(ints[0], rank + 1)
            if axis is None:
                return HostValue()
            shape = [*source[:axis], ex.Num(1), *source[axis:]]
            return self.make_view("unsqueeze", "default", tensor, {"dim": axis}, shape, node)
        if method == "squeeze" and len(ints) == 1:
            axis = _axis(ints[0], rank)
            if axis is None:
                return HostValue()
            # squeeze keeps an axis whose extent is not 1: the result's rank depends on it.
            if self.concrete is None or self.concrete(source[axis] or ex.Ref("?")) != 1:
                return HostValue()
            shape = source[:axis] + source[axis + 1 :]
            return self.make_view("squeeze", "dim", tensor, {"dim": axis}, shape, node)
        if method == "flatten" and len(ints) <= 2:
            start = _axis(ints[0] if ints else 0, rank)
            end = _axis(ints[1] if len(ints) > 1 else -1, rank)
            if start is None or end is None or start > end:
                return HostValue()
            product = _product(source[start : end + 1])
            shape = [*source[:start], product, *source[end + 1 :]]
            attrs = {"start_dim": start, "end_dim": end}
            return self.make_view("flatten", "using_ints", tensor, attrs, shape, node)
        return HostValue()

    def size_list(self, args: list[ast.expr]) -> list[ex.Node] | None:
        """The sizes of ``reshape(a, b)`` or ``reshape([a, b])``/``reshape(x.size())``."""
        if len(args) == 1:
            value = self.value(args[0])
            if value.items is not None:
                items = [item.expr for item in value.items]
                return None if None in items else items  # type: ignore[return-value]
        items = [self.value(arg).expr for arg in args]
        return None if None in items or not items else items  # type: ignore[return-value]

    def make_view(
        self,
        aten: str,
        overload: str,
        tensor: str,
        attrs: dict[str, Any],
        shape: list[ex.Node | None],
        node: ast.AST,
    ) -> HostValue:
        line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        return HostValue(view=HostView(aten, overload, tensor, attrs, shape, line, col))

    def tensor_subscript(self, tensor: str, node: ast.Subscript) -> HostValue:
        """``x[1:]``, ``x[:, :n]``, ``x[0]``: ATen ``slice`` and ``select``, one axis each."""
        source = self.extents(tensor)
        if source is None:
            return HostValue()
        entries = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if len(entries) > len(source) or len(entries) != 1:
            # One axis at a time keeps to one ATen op; a chain of them is written
            # as separate statements.
            return HostValue()
        entry = entries[0]
        if isinstance(entry, ast.Slice):
            if entry.step is not None:
                return HostValue()
            start = self.value(entry.lower).expr if entry.lower is not None else ex.Num(0)
            extent = source[0]
            end = self.value(entry.upper).expr if entry.upper is not None else extent
            if start is None or end is None or extent is None:
                return HostValue()
            length = ex.BinOp(
                "-",
                ex.BinOp("min", end, extent),
                ex.BinOp("min", start, extent),
            )
            shape = [ex.BinOp("max", length, ex.Num(0)), *source[1:]]
            attrs = {
                "dim": 0,
                "start": ex.format_expr(start),
                "end": ex.format_expr(end),
                "step": 1,
            }
            return self.make_view("slice", "Tensor", tensor, attrs, shape, node)
        index = self.value(entry).expr
        if index is None:
            return HostValue()
        attrs = {"dim": 0, "index": ex.format_expr(index)}
        return self.make_view("select", "int", tensor, attrs, source[1:], node)

    def factory(
        self,
        node: ast.Call,
        fill_kind: int | str | None,
        args: list[ast.expr],
        like: str | None,
    ) -> HostValue:
        """Remember how a host tensor is allocated; ``assign`` binds it to its name."""
        shape: list[ex.Node | None] | None
        rest = list(args)
        if like is not None:
            shape_values = self.shape_of(like)
            shape = [v.expr for v in shape_values] if shape_values is not None else None
        else:
            shape_node = rest.pop(0) if rest else _keyword(node, "size")
            if shape_node is None:
                shape = None
            elif fill_kind != "arg" and rest:
                # torch.empty(m, n): sizes as separate arguments.
                shape = [self.value(n).expr for n in [shape_node, *rest]]
                rest = []
            else:
                sizes = self.value(shape_node)
                if sizes.items is not None:
                    shape = [item.expr for item in sizes.items]
                elif sizes.expr is not None:
                    shape = [sizes.expr]
                else:
                    shape = None
        fill: float | int | bool | None
        if fill_kind == "arg":
            fill_node = rest[0] if rest else _keyword(node, "fill_value")
            fill = self.value(fill_node).number if fill_node is not None else None
            if fill is None and fill_node is not None:
                constant = self.value(fill_node).expr
                fill = constant.value if isinstance(constant, ex.Num) else None
        else:
            fill = fill_kind  # type: ignore[assignment]
        if fill_kind == "arg" and fill is None:
            return HostValue(allocated=True)
        return HostValue(
            allocated=True, allocation=HostFactory(shape, fill, node.lineno, node.col_offset)
        )

    # -- queries
    def vector(self, node: ast.expr, length: int) -> list[HostValue | None]:
        value = self.value(node)
        if value.items is not None and len(value.items) == length:
            return list(value.items)
        if value.items is None and length == 1 and value.expr is not None:
            return [value]
        return [None] * length

    def definition_location(
        self, name: str, filename: str, first_line: int
    ) -> SourceLocation | None:
        stmt = self.definitions.get(name)
        if stmt is None:
            return None
        return SourceLocation(
            relative_source_path(filename), stmt.lineno + first_line - 1, stmt.col_offset
        )


_VIEW_METHODS = frozenset(
    {
        "reshape",
        "view",
        "contiguous",
        "transpose",
        "t",
        "permute",
        "unsqueeze",
        "squeeze",
        "flatten",
    }
)


def _axis(axis: int, rank: int) -> int | None:
    """A possibly negative axis as a position, None when it is out of range."""
    if -rank <= axis < rank:
        return axis % rank
    return None


def _product(extents: list[ex.Node | None]) -> ex.Node | None:
    if not extents or None in extents:
        return None if extents else ex.Num(1)
    result: ex.Node = extents[0]  # type: ignore[assignment]
    for extent in extents[1:]:
        result = ex.BinOp("*", result, extent)  # type: ignore[arg-type]
    return result


def _resolve_inferred(sizes: list[ex.Node], source: list[ex.Node | None]) -> list[ex.Node | None]:
    """The extents of ``reshape(sizes)``: a ``-1`` is what the other sizes leave over."""
    inferred = [
        i for i, size in enumerate(sizes) if size == ex.Neg(ex.Num(1)) or size == ex.Num(-1)
    ]
    if not inferred:
        return list(sizes)
    total, known = _product(source), _product([s for i, s in enumerate(sizes) if i != inferred[0]])
    shape: list[ex.Node | None] = list(sizes)
    shape[inferred[0]] = ex.BinOp("//", total, known) if total and known else None
    return shape


def _exprs(sizes: list[ex.Node]) -> list[ex.Expr]:
    """Sizes as attribute values: ``-1`` (infer this one) stays a JSON number."""
    return [
        -size.operand.value
        if isinstance(size, ex.Neg)
        and isinstance(size.operand, ex.Num)
        and type(size.operand.value) is int
        else ex.format_expr(size)
        for size in sizes
    ]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)
