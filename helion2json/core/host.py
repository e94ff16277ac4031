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


@dataclass
class HostFactory:
    """A tensor allocated on the host by a factory (``torch.empty``, ``zeros_like``...)."""

    shape: list[ex.Node | None] | None
    fill: float | int | bool | None
    line: int  # 1-based within the kernel's source
    col: int


@dataclass
class HostEvaluator:
    param_names: list[str]
    ranks: dict[str, int] = field(default_factory=dict)
    env: dict[str, HostValue] = field(default_factory=dict)
    factories: dict[str, HostFactory] = field(default_factory=dict)
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
        return HostValue()

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

    def return_names(self, stmt: ast.Return) -> list[str]:
        value = stmt.value
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            return []
        elements = value.elts if isinstance(value, (ast.Tuple, ast.List)) else [value]
        names: list[str] = []
        for element in elements:
            if not isinstance(element, ast.Name):
                names.append(ast.unparse(element))
            else:
                names.append(element.id)
        return names

    def definition_location(
        self, name: str, filename: str, first_line: int
    ) -> SourceLocation | None:
        stmt = self.definitions.get(name)
        if stmt is None:
            return None
        return SourceLocation(
            relative_source_path(filename), stmt.lineno + first_line - 1, stmt.col_offset
        )


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)
