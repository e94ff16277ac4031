"""The program tree and the interpreter that runs it: scopes, regions, expressions, operands."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import ValidationError as PydanticValidationError

from helion2json.core import expr as ex
from helion2json.core.errors import one_line
from helion2json.core.format_types import ExprOperand, SliceOperand
from helion2json.core.ops import IfBeginOp, TileBeginOp, merged_names, result_names, spec_of
from helion2json.interpret.indexing import load_slice
from helion2json.interpret.registry import EXECUTORS
from helion2json.interpret.types import check_results
from helion2json.interpret.values import NON_FINITE, InterpretError, Tile, as_int
from helion2json.interpret.writes import LaunchWrites

# Seeds are drawn uniformly from [0, RNG_SEED_BOUND).
RNG_SEED_BOUND = 2**63 - 1


class Env:
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


def defined_names(block: list[_Node]) -> frozenset[str]:
    """The names a block defines in its own scope (not inside its loops)."""
    names: set[str] = set()
    for node in block:
        if isinstance(node, _If):
            names |= node.merged
        elif isinstance(node, _Step):
            names.update(result_names(node.op))
    return frozenset(names)


class Interpreter:
    """Executes one function's program tree; ``env`` holds the names in scope."""

    def __init__(self, device: torch.device, generator: torch.Generator | None = None) -> None:
        self.device = device
        self.env = Env()
        self.exprs: dict[ex.Expr, ex.Node] = {}
        self.linear: dict[tuple[int, ...], torch.Tensor] = {}
        self.returned: list[Any] = []
        # The launch's random seeds: how many slots the body reads, drawn on first use.
        self.generator = generator
        self.rng_slots = 0
        self.rng_seeds: torch.Tensor | None = None
        # True while a combine function runs: its values are elements, many at once.
        self.in_combine = False
        # Which program stored each element, to hold the launch to the parallel-write rule.
        self.writes = LaunchWrites()

    def seeds(self) -> torch.Tensor:
        """Every slot's seed, drawn at once as Helion's launcher draws them.

        ``torch.randint(2**63 - 1, [slots])`` (Inductor's ``inductor_seeds``) from
        ``generator``, else from the default generator of the device the kernel runs on.
        """
        if self.rng_seeds is None:
            device = self.generator.device if self.generator is not None else self.device
            seeds = torch.randint(
                RNG_SEED_BOUND,
                [self.rng_slots],
                dtype=torch.int64,
                device=device,
                generator=self.generator,
            )
            self.rng_seeds = seeds.to(self.device)
        return self.rng_seeds

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
                    defined_names(innermost.then), defined_names(innermost.orelse)
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

    def run_block(self, nodes: list[_Node]) -> None:
        for node in nodes:
            try:
                if isinstance(node, _Step):
                    node.run()
                    check_results(self, node.op, elements=self.in_combine)
                elif isinstance(node, _Loop):
                    self.run_loop(node)
                else:
                    self.run_if(node)
            except InterpretError as exc:
                raise self.located(exc, node.index, node.op) from None
            except (RuntimeError, ValueError, TypeError, IndexError, ZeroDivisionError) as exc:
                raise self.located(InterpretError(one_line(exc)), node.index, node.op) from exc

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
        grid = op.parallel and self.writes.program is None
        try:
            for offsets in itertools.product(*ranges):
                if grid:
                    self.writes.start_program()
                self.run_iteration(loop, op, offsets, blocks, begins, ends)
        finally:
            if grid:
                self.writes.end_programs()

    def run_iteration(
        self,
        loop: _Loop,
        op: TileBeginOp,
        offsets: tuple[int, ...],
        blocks: list[int],
        begins: list[int],
        ends: list[int],
    ) -> None:
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
        """An expression that sizes, offsets or bounds something: an integer."""
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        result = self.number_expr(value)
        if isinstance(result, float):
            raise InterpretError(f"expression {value!r} is {result!r}, not an integer")
        return int(result)

    def number_expr(self, value: ex.Expr) -> ex.Number:
        """An expression used as a scalar: an integer, a float or a boolean."""
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return ex.evaluate(self.parse(value), self.resolve)
        except ZeroDivisionError:
            raise InterpretError(f"expression {value!r} divides by zero") from None

    def resolve(self, node: ex.Node) -> ex.Number:
        if isinstance(node, ex.Dim):
            tensor = self.env.get(node.tensor)
            if not isinstance(tensor, torch.Tensor) or node.axis >= tensor.dim():
                raise InterpretError(f"dim({node.tensor},{node.axis}): no such tensor axis")
            return int(tensor.shape[node.axis])
        if isinstance(node, ex.Size):
            return self.tile(node.tile).size
        assert isinstance(node, ex.Ref)
        value = self.env.get(node.name)
        if isinstance(value, float) or (
            isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype.is_floating_point
        ):
            return float(value)
        return as_int(value, node.name)

    def tile(self, name: str) -> Tile:
        value = self.env.get(name)
        if not isinstance(value, Tile):
            raise InterpretError(f"'{name}' is not a tile")
        return value

    def operand(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            if value in NON_FINITE:
                return NON_FINITE[value]
            named = self.env.get(value)
            # A tile used as a value is its offset, as in expressions.
            return named.offset if isinstance(named, Tile) else named
        if isinstance(value, SliceOperand):
            return load_slice(self, value.slice)
        if isinstance(value, ExprOperand):
            return self.number_expr(value.expr)
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

    def shape(self, exprs: Sequence[ex.Expr]) -> list[int]:
        return [self.int_expr(e) for e in exprs]

    def lookup(self, name: str) -> Any:
        """The value a bare name holds, or None when it is not a defined name."""
        if not name.isidentifier():
            return None
        try:
            return self.env.get(name)
        except InterpretError:
            return None
