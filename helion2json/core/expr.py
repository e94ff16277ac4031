"""The expression grammar used for shapes, offsets, sizes and loop bounds.

An expression is a JSON integer or a string of this grammar::

    expr   := sum (CMP sum)?                  # CMP: == != < <= > >=
    sum    := term (("+" | "-") term)*
    term   := unary (("*" | "//" | "/" | "%") unary)*
    unary  := "-" unary | atom
    atom   := INT | FLOAT | NAME | call | "(" expr ")"
    call   := "dim" "(" NAME "," INT ")"      # extent of a tensor's axis
            | "size" "(" NAME ")"             # this iteration's extent of a tile
            | ("min" | "max" | "cdiv") "(" expr "," expr ")"

Values are Python's: integers of any size, floats (IEEE double), and booleans
from comparisons (``True`` counts as 1 in arithmetic). ``//`` and ``%`` floor,
as Python's do (``-7 // 2 == -4``, ``-7 % 2 == 1``); ``/`` is true division
and gives a float; ``cdiv(a, b)`` is ``-(-a // b)``. A FLOAT literal has a
``.`` or an exponent (``0.5``, ``1e-05``) and is finite. A bare NAME is a tile
(its first index), a scalar argument, a block-size symbol, a tile property's
result, or a one-element value computed earlier. Tokens are ASCII and trees
at most ``MAX_DEPTH`` deep. This module is pure Python: the schema, the
interpreter and editors' tooling use it without torch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Expr = int | str
Number = int | float

# ASCII only: ``\d`` would otherwise accept other scripts' digits.
_TOKEN = re.compile(
    r"\s*(?:(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z_0-9]*)"
    r"|(//|==|!=|<=|>=|[-+*/%<>(),]))",
    re.ASCII,
)
_BINARY_FUNCS = ("min", "max", "cdiv")
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_PRODUCTS = ("*", "//", "/", "%")
# Real expressions are a few levels deep; bounding the depth keeps every recursive
# walk over a parsed tree (validation, formatting, evaluation) far from Python's
# recursion limit, so a pathological string is a syntax error, not a crash.
MAX_DEPTH = 100


class ExprSyntaxError(ValueError):
    """An expression string does not follow the grammar."""


@dataclass(frozen=True)
class Num:
    value: Number


@dataclass(frozen=True)
class Ref:
    """A bare name: a tile's first index, an int scalar argument or a block-size symbol."""

    name: str


@dataclass(frozen=True)
class Dim:
    tensor: str
    axis: int


@dataclass(frozen=True)
class Size:
    tile: str


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * // / % min max cdiv, or a comparison
    left: Node
    right: Node


Node = Num | Ref | Dim | Size | Neg | BinOp


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    stripped_end = len(text.rstrip(" \t\n\r\f\v"))
    while pos < stripped_end:
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ExprSyntaxError(f"unexpected character {text[pos:].strip()[:1]!r} in {text!r}")
        tokens.append(match.group(match.lastindex or 0))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.nesting = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None:
            raise ExprSyntaxError(f"unexpected end of expression {self.text!r}")
        if expected is not None and token != expected:
            raise ExprSyntaxError(f"expected {expected!r} but found {token!r} in {self.text!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise ExprSyntaxError(f"unexpected {self.peek()!r} in {self.text!r}")
        if _depth(node) > MAX_DEPTH:
            raise self.too_deep()
        return node

    def too_deep(self) -> ExprSyntaxError:
        return ExprSyntaxError(
            f"expression nests deeper than {MAX_DEPTH} levels: {self.text[:40]!r}"
        )

    def nested(self, parse: Callable[[], Node]) -> Node:
        """Parse a nested construct, refusing to recurse past ``MAX_DEPTH``."""
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.too_deep()
        try:
            return parse()
        finally:
            self.nesting -= 1

    def expr(self) -> Node:
        node = self.sum()
        if self.peek() in _COMPARISONS:
            op = self.take()
            node = BinOp(op, node, self.sum())
            if self.peek() in _COMPARISONS:
                raise ExprSyntaxError(f"comparisons do not chain; add parentheses in {self.text!r}")
        return node

    def sum(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = BinOp(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in _PRODUCTS:
            op = self.take()
            node = BinOp(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Neg(self.nested(self.unary))
        return self.atom()

    def atom(self) -> Node:
        token = self.take()
        if token.isdigit():
            return Num(self.integer(token))
        if token[0].isdigit():
            return Num(self.floating(token))
        if token == "(":
            node = self.nested(self.expr)
            self.take(")")
            return node
        if not (token[0].isalpha() or token[0] == "_"):
            raise ExprSyntaxError(f"unexpected {token!r} in {self.text!r}")
        if self.peek() != "(":
            return Ref(token)
        self.take("(")
        if token == "dim":
            tensor = self.name()
            self.take(",")
            axis = self.take()
            if not axis.isdigit():
                raise ExprSyntaxError(f"dim() needs an integer axis, got {axis!r} in {self.text!r}")
            self.take(")")
            return Dim(tensor, self.integer(axis))
        if token == "size":
            tile = self.name()
            self.take(")")
            return Size(tile)
        if token in _BINARY_FUNCS:
            left = self.nested(self.expr)
            self.take(",")
            right = self.nested(self.expr)
            self.take(")")
            return BinOp(token, left, right)
        raise ExprSyntaxError(f"unknown function {token!r} in {self.text!r}")

    def integer(self, token: str) -> int:
        try:
            return int(token)
        except ValueError:  # more digits than Python converts
            raise ExprSyntaxError(
                f"integer {token[:20]}... is too long in {self.text[:40]!r}"
            ) from None

    def floating(self, token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            raise ExprSyntaxError(f"float {token[:20]} is not finite in {self.text[:40]!r}")
        return value

    def name(self) -> str:
        token = self.take()
        if not (token[0].isalpha() or token[0] == "_"):
            raise ExprSyntaxError(f"expected a name but found {token!r} in {self.text!r}")
        return token


def parse_expr(value: Expr) -> Node:
    """Parse an expression; raise ``ExprSyntaxError`` when it does not follow the grammar."""
    if isinstance(value, bool):
        raise ExprSyntaxError(f"expected an integer or expression string, got {value!r}")
    if isinstance(value, int):
        return Num(value)
    if isinstance(value, float) and math.isfinite(value):
        return Num(value)
    if not isinstance(value, str):
        raise ExprSyntaxError(f"expected an integer or expression string, got {value!r}")
    return _Parser(value).parse()


def _depth(node: Node) -> int:
    """The depth of a tree, without recursion (chains like ``x + x + ...`` grow deep)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(current, Neg):
            stack.append((current.operand, depth + 1))
        elif isinstance(current, BinOp):
            stack.extend(((current.left, depth + 1), (current.right, depth + 1)))
    return deepest


def _precedence(node: Node) -> int:
    if isinstance(node, BinOp) and node.op in _COMPARISONS:
        return 0
    if isinstance(node, BinOp) and node.op in ("+", "-"):
        return 1
    if isinstance(node, BinOp) and node.op in _PRODUCTS:
        return 2
    if isinstance(node, Neg) or (isinstance(node, Num) and node.value < 0):
        return 3
    return 4


def format_expr(node: Node) -> Expr:
    """The canonical form of an expression: an int where it is one, else a string."""
    if isinstance(node, Num) and type(node.value) is int:
        return node.value
    return _format(node)


def _format(node: Node) -> str:
    if isinstance(node, Num):
        # repr() of a float reads back as the same float.
        return repr(node.value) if isinstance(node.value, float) else str(node.value)
    if isinstance(node, Ref):
        return node.name
    if isinstance(node, Dim):
        return f"dim({node.tensor},{node.axis})"
    if isinstance(node, Size):
        return f"size({node.tile})"
    if isinstance(node, Neg):
        inner = _format(node.operand)
        return f"-{inner}" if _precedence(node.operand) >= 3 else f"-({inner})"
    if node.op in _BINARY_FUNCS:
        return f"{node.op}({_format(node.left)}, {_format(node.right)})"
    level = _precedence(node)
    left = _format(node.left)
    # Comparisons do not chain: a comparison inside one needs parentheses on either side.
    if _precedence(node.left) < level or (level == 0 and _precedence(node.left) == 0):
        left = f"({left})"
    right = _format(node.right)
    # Left-associative operators need parentheses on an equal-precedence right side.
    if _precedence(node.right) <= level:
        right = f"({right})"
    return f"{left} {node.op} {right}"


def walk(node: Node) -> Iterator[Node]:
    """Every node of an expression tree, the root first."""
    yield node
    if isinstance(node, Neg):
        yield from walk(node.operand)
    elif isinstance(node, BinOp):
        yield from walk(node.left)
        yield from walk(node.right)


_OPERATORS: dict[str, Callable[[Number, Number], Number]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "//": lambda a, b: a // b,
    "/": lambda a, b: a / b,
    "%": lambda a, b: a % b,
    "min": min,
    "max": max,
    "cdiv": lambda a, b: -(-a // b),
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def evaluate(node: Node, resolve: Callable[[Node], Number]) -> Number:
    """Evaluate with ``resolve`` giving the value of each ``Ref``, ``Dim`` and ``Size``.

    Python's semantics throughout (see the module's docstring); dividing by zero
    raises ``ZeroDivisionError``.
    """
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg):
        return -evaluate(node.operand, resolve)
    if isinstance(node, BinOp):
        return _OPERATORS[node.op](evaluate(node.left, resolve), evaluate(node.right, resolve))
    return resolve(node)
