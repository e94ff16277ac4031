"""The expression grammar used for shapes, offsets, sizes and loop bounds.

An expression is a JSON integer or a string of this grammar::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "//") unary)*
    unary  := "-" unary | atom
    atom   := INT | NAME | call | "(" expr ")"
    call   := "dim" "(" NAME "," INT ")"      # extent of a tensor's axis
            | "size" "(" NAME ")"             # this iteration's extent of a tile
            | ("min" | "max" | "cdiv") "(" expr "," expr ")"

A bare NAME is a tile (its first index), an integer scalar argument, or a
block-size symbol. This module is pure Python: the schema, the interpreter and
editors' tooling use it without torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Expr = int | str

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z_0-9]*)|(//|[-+*(),]))")
_BINARY_FUNCS = ("min", "max", "cdiv")


class ExprSyntaxError(ValueError):
    """An expression string does not follow the grammar."""


@dataclass(frozen=True)
class Num:
    value: int


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
    op: str  # one of + - * // min max cdiv
    left: Node
    right: Node


Node = Num | Ref | Dim | Size | Neg | BinOp


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    stripped_end = len(text.rstrip())
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
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = BinOp(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "//"):
            op = self.take()
            node = BinOp(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Neg(self.unary())
        return self.atom()

    def atom(self) -> Node:
        token = self.take()
        if token.isdigit():
            return Num(int(token))
        if token == "(":
            node = self.expr()
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
            return Dim(tensor, int(axis))
        if token == "size":
            tile = self.name()
            self.take(")")
            return Size(tile)
        if token in _BINARY_FUNCS:
            left = self.expr()
            self.take(",")
            right = self.expr()
            self.take(")")
            return BinOp(token, left, right)
        raise ExprSyntaxError(f"unknown function {token!r} in {self.text!r}")

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
    if not isinstance(value, str):
        raise ExprSyntaxError(f"expected an integer or expression string, got {value!r}")
    return _Parser(value).parse()


def _precedence(node: Node) -> int:
    if isinstance(node, BinOp) and node.op in ("+", "-"):
        return 1
    if isinstance(node, BinOp) and node.op in ("*", "//"):
        return 2
    if isinstance(node, Neg):
        return 3
    return 4


def format_expr(node: Node) -> Expr:
    """The canonical form of an expression: an int where it is one, else a string."""
    if isinstance(node, Num):
        return node.value
    return _format(node)


def _format(node: Node) -> str:
    if isinstance(node, Num):
        return str(node.value)
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
    if _precedence(node.left) < level:
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


def evaluate(node: Node, resolve: Callable[[Node], int]) -> int:
    """Evaluate with ``resolve`` giving the value of each ``Ref``, ``Dim`` and ``Size``."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg):
        return -evaluate(node.operand, resolve)
    if isinstance(node, BinOp):
        left = evaluate(node.left, resolve)
        right = evaluate(node.right, resolve)
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return left * right
        if node.op == "//":
            return left // right
        if node.op == "min":
            return min(left, right)
        if node.op == "max":
            return max(left, right)
        return -(-left // right)  # cdiv
    return resolve(node)
