"""Evaluate example arguments: ``--arg`` expressions and ``# h2j: args(...)`` text.

Both the CLI and the annotation path go through :func:`evaluate_call_arguments`,
so an expression means the same thing wherever it is written.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helion2json.core.errors import ArgumentError, SourceLocation


@dataclass(frozen=True)
class ExampleArgs:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def default_device() -> str:
    """The exporter host's accelerator if it has one, else ``"cpu"``."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and accelerator.is_available():
        current = accelerator.current_accelerator()
        if current is not None:
            return current.type
    return "cpu"


def evaluation_namespace(module_globals: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``torch``, ``helion``, ``hl`` and ``DEVICE``, under the module's own globals."""
    import helion
    import helion.language as hl
    import torch

    namespace: dict[str, Any] = {
        "torch": torch,
        "helion": helion,
        "hl": hl,
        "DEVICE": default_device(),
    }
    if module_globals is not None:
        namespace.update(module_globals)
    return namespace


def parse_call_arguments(text: str) -> ast.Call:
    """Parse ``text`` as the inside of a call's parentheses.

    Raises ``ArgumentError`` whose location column points into ``text``.
    """
    source = f"f({text})"
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        offset = max((exc.offset or 1) - 1 - 2, 0)
        raise ArgumentError(
            f"example arguments do not parse: {exc.msg}",
            location=SourceLocation("<args>", 1, min(offset, len(text))),
        ) from None
    call = tree.body
    # "1), g(2" parses as a call too, but not as one argument list.
    if not isinstance(call, ast.Call) or ast.get_source_segment(source, call) != source:
        raise ArgumentError("example arguments must be a plain argument list")
    return call


def evaluate_call_arguments(
    text: str, namespace: Mapping[str, Any], *, filename: str = "<args>"
) -> ExampleArgs:
    """Evaluate ``text`` (e.g. ``"torch.randn(4, 8), eps=1e-5"``) in ``namespace``."""
    call = parse_call_arguments(text)
    scope = dict(namespace)
    # Columns of ``f(text)`` as ast counts them (UTF-8 bytes), for locating an argument.
    encoded = f"f({text})".encode()

    def evaluate(node: ast.expr) -> Any:
        expression = ast.Expression(body=node)
        ast.fix_missing_locations(expression)
        code = compile(expression, filename, "eval")
        try:
            return eval(code, scope)
        except Exception as exc:
            col = len(encoded[: node.col_offset].decode("utf-8", errors="replace")) - len("f(")
            raise ArgumentError(
                f"example argument `{ast.unparse(node)}` raised {type(exc).__name__}: {exc}",
                location=SourceLocation("<args>", 1, max(col, 0)),
            ) from exc

    args: list[Any] = []
    for node in call.args:
        if isinstance(node, ast.Starred):
            args.extend(evaluate(node.value))
        else:
            args.append(evaluate(node))
    kwargs: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            kwargs.update(evaluate(keyword.value))
        else:
            kwargs[keyword.arg] = evaluate(keyword.value)
    return ExampleArgs(tuple(args), kwargs)


def evaluate_cli_arguments(expressions: Sequence[str], namespace: Mapping[str, Any]) -> ExampleArgs:
    """Each ``--arg`` is one argument (``NAME=EXPR`` passes it by keyword)."""
    for expression in expressions:
        if not expression.strip():
            raise ArgumentError("an --arg expression is empty")
        # Reject "a), (b" early: it would join into a valid list of two arguments.
        try:
            parsed = parse_call_arguments(expression)
        except ArgumentError as exc:
            raise ArgumentError(f"--arg {expression!r}: {exc.message}") from None
        if len(parsed.args) + len(parsed.keywords) != 1:
            raise ArgumentError(f"--arg {expression!r} must be exactly one argument")
    try:
        return evaluate_call_arguments(", ".join(expressions), namespace, filename="<--arg>")
    except ArgumentError as exc:
        # A column into the joined --arg texts means nothing on the command line.
        raise ArgumentError(exc.message) from exc.__cause__
