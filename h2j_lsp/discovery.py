"""Find Helion kernels and their ``# h2j:`` directives in Python source, statically.

Only ``ast``, ``tokenize`` and ``re`` are used: the language server must answer while the user
types, and must not import torch or helion just to know where the kernels are.
"""

from __future__ import annotations

import ast
import gc
import io
import re
import tokenize
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DIRECTIVE_KINDS",
    "DIRECTIVE_START",
    "Directive",
    "DirectiveError",
    "DirectiveKind",
    "KernelInfo",
    "Parameter",
    "ScanResult",
    "Span",
    "args_template",
    "scan_source",
]

DirectiveKind = Literal["args", "skip", "ref", "config"]
DIRECTIVE_KINDS: tuple[DirectiveKind, ...] = ("args", "skip", "ref", "config")

# `helion.jit` and `helion.runtime.kernel` are the same function as `helion.kernel`.
_KERNEL_FACTORIES = frozenset(
    {"helion.kernel", "helion.jit", "helion.runtime.kernel", "helion.runtime.kernel.kernel"}
)
_TILE_FUNCTIONS = frozenset(
    {
        "helion.language.tile",
        "helion.language.grid",
        "helion.language.loops.tile",
        "helion.language.loops.grid",
    }
)

DIRECTIVE_START = re.compile(r"#[ \t]*h2j[ \t]*:")
_DIRECTIVE_NAME = re.compile(r"[ \t]*([^\W\d]\w*)")
_LINE_BREAK = re.compile(r"\r\n?")
_DEF_NAME = re.compile(r"(?:async(?:[ \t\f]|\\\n)+)?def(?:[ \t\f]|\\\n)+([^\W\d]\w*)")
# Bounds alias chains such as `a = b` / `b = a`, which would otherwise never end.
_MAX_ALIAS_DEPTH = 64

_TENSOR_EXAMPLE = "torch.randn(16, 16, device=DEVICE)"
_TEMPLATE_VALUES = {
    "torch.Tensor": _TENSOR_EXAMPLE,
    "Tensor": _TENSOR_EXAMPLE,
    "float": "1.0",
    "int": "16",
    "bool": "True",
}


@dataclass(frozen=True)
class Span:
    """A range of source text: 0-based lines, 0-based columns in code points, end exclusive."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int


@dataclass(frozen=True)
class Directive:
    """One ``# h2j: kind(text)`` comment attached to a kernel."""

    kind: DirectiveKind
    text: str
    span: Span
    text_span: Span

    @property
    def line(self) -> int:
        """1-based line number, for messages."""
        return self.span.start_line + 1


@dataclass(frozen=True)
class DirectiveError:
    """A problem with a directive, or the file's syntax error (code ``syntax-error``)."""

    message: str
    span: Span
    code: str
    severity: Literal["error", "warning"]


@dataclass(frozen=True)
class Parameter:
    """A kernel parameter; annotation and default are source text, normalised by ast.unparse."""

    name: str
    annotation: str | None
    default: str | None
    kind: Literal["positional", "keyword_only", "var_positional", "var_keyword"]


@dataclass(frozen=True)
class KernelInfo:
    """A function decorated with ``helion.kernel`` and the directives attached to it."""

    name: str
    name_span: Span
    def_span: Span
    decorator_span: Span
    first_decorator_line: int
    parameters: tuple[Parameter, ...]
    examples: tuple[Directive, ...]
    ref: Directive | None
    config: Directive | None
    skip: bool
    decorator_source: str
    tile_loops: tuple[Span, ...]


@dataclass(frozen=True)
class ScanResult:
    kernels: tuple[KernelInfo, ...]
    errors: tuple[DirectiveError, ...]
    syntax_error: DirectiveError | None


def scan_source(text: str) -> ScanResult:
    """Find the helion kernels of a module's source text and the directives above them.

    Never raises: a file that does not parse gives only ``syntax_error``.
    """
    source = _Source(text)
    # A large file parses into millions of nodes. While they are alive, every full collection
    # walks all of them (seconds for a few MB) and frees nothing: the tree has no cycles, and
    # reference counting frees it when the scan returns.
    enabled = gc.isenabled()
    gc.disable()
    try:
        try:
            # Warnings about the user's code (`"\d"`, `1if`) are not ours to print, and under
            # `-W error` they would turn into syntax errors.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(source.text)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            return ScanResult((), (), _syntax_error(source, exc))
        return _Scanner(source, tree).scan()
    finally:
        if enabled:
            gc.enable()


def args_template(kernel: KernelInfo) -> str:
    """A ``# h2j: args(...)`` line for the kernel, for the user to complete.

    Parameters with a default are left out; values that cannot be guessed from the annotation
    are ``None`` so that running the template fails until the user fills them in. The line has
    no indentation and no line break.
    """
    values: list[str] = []
    for param in kernel.parameters:
        if param.default is not None or param.kind in ("var_positional", "var_keyword"):
            continue
        value = _TEMPLATE_VALUES.get(_unquote(param.annotation or ""), "None")
        values.append(f"{param.name}={value}" if param.kind == "keyword_only" else value)
    return f"# h2j: args({', '.join(values)})"


def _unquote(annotation: str) -> str:
    if len(annotation) >= 2 and annotation[0] == annotation[-1] and annotation[0] in "'\"":
        return annotation[1:-1].strip()
    return annotation


class _Source:
    """The text split into lines the way Python and LSP both count them (``\\n``, ``\\r\\n``,
    ``\\r``), with conversions from the UTF-8 byte columns that ``ast`` reports."""

    def __init__(self, text: str) -> None:
        # Python accepts a byte order mark in a file but not in a str; columns on the first line
        # still count it, since the editor's text has it.
        self.bom = text.startswith("\ufeff")
        if self.bom:
            text = text[1:]
        if "\r" in text:
            text = _LINE_BREAK.sub("\n", text)
        self.text = text
        self.lines = text.split("\n")

    def span(self, start_line: int, start_col: int, end_line: int, end_col: int) -> Span:
        if self.bom:
            start_col += start_line == 0
            end_col += end_line == 0
        return Span(start_line, start_col, end_line, end_col)

    def char_col(self, lineno: int, byte_col: int) -> int:
        """The code point column of a UTF-8 byte column on a 1-based line."""
        return _char_offset(self.lines[lineno - 1], byte_col)

    def node_span(self, node: ast.expr | ast.stmt) -> Span:
        end_lineno = node.end_lineno or node.lineno
        end_col = node.end_col_offset if node.end_col_offset is not None else node.col_offset
        return self.span(
            node.lineno - 1,
            self.char_col(node.lineno, node.col_offset),
            end_lineno - 1,
            self.char_col(end_lineno, end_col),
        )

    def segment(self, node: ast.expr) -> str:
        span = self.node_span(node)
        shift = int(self.bom)
        start = span.start_col - shift * (span.start_line == 0)
        end = span.end_col - shift * (span.end_line == 0)
        if span.start_line == span.end_line:
            return self.lines[span.start_line][start:end]
        return "\n".join(
            [
                self.lines[span.start_line][start:],
                *self.lines[span.start_line + 1 : span.end_line],
                self.lines[span.end_line][:end],
            ]
        )

    def position(self, index: int) -> tuple[int, int]:
        """The 0-based line and column of a code point index into the text."""
        line = self.text.count("\n", 0, index)
        return line, index - (self.text.rfind("\n", 0, index) + 1)


def _char_offset(text: str, byte_offset: int) -> int:
    if text.isascii():
        return byte_offset
    return len(text.encode("utf-8", "surrogatepass")[:byte_offset].decode("utf-8", "ignore"))


def _syntax_error(source: _Source, exc: Exception) -> DirectiveError:
    line, col, end_line, end_col = 0, 0, 0, 0
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        line = min(max(exc.lineno - 1, 0), len(source.lines) - 1)
        width = len(source.lines[line])
        col = min(max((exc.offset or 1) - 1, 0), width)
        end_line, end_col = line, min(col + 1, width)
        if exc.end_lineno is not None and exc.end_offset and exc.end_lineno - 1 > line:
            end_line = min(exc.end_lineno - 1, len(source.lines) - 1)
            end_col = min(max(exc.end_offset - 1, 0), len(source.lines[end_line]))
        elif exc.end_lineno == exc.lineno and exc.end_offset and exc.end_offset > (exc.offset or 1):
            end_col = min(exc.end_offset - 1, width)
    elif isinstance(exc, UnicodeEncodeError):
        line, col = source.position(exc.start)
        end_line, end_col = line, col + 1
    elif "\0" in source.text:
        line, col = source.position(source.text.index("\0"))
        end_line, end_col = line, col + 1
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc) or type(exc).__name__
    return DirectiveError(
        message, source.span(line, col, end_line, end_col), "syntax-error", "error"
    )


def _first_line(node: ast.stmt) -> int:
    """1-based first line of a statement, its decorators included."""
    decorators: list[ast.expr] | None = getattr(node, "decorator_list", None)
    if not decorators:
        return node.lineno
    return min(node.lineno, *(d.lineno for d in decorators))


def _last_line(node: ast.stmt) -> int:
    return node.end_lineno if node.end_lineno is not None else node.lineno


def _bodies(node: ast.AST) -> Iterator[list[ast.stmt]]:
    """The statement lists nested directly in a statement, in source order."""
    for name in ("body", "handlers", "orelse", "finalbody"):
        value = getattr(node, name, None)
        if not isinstance(value, list):
            continue
        if name == "handlers":
            for handler in value:
                yield handler.body
        else:
            yield value
    if isinstance(node, ast.Match):
        for case in node.cases:
            yield case.body


class _Comments:
    """Where comments start, by tokenizing only the few lines around the line asked about.

    Tokenizing a whole large file in pure Python takes seconds. The parsed tree says which
    lines belong to which statement, and a statement, or a run of lines between two
    statements, tokenizes on its own exactly as it does inside the file.
    """

    def __init__(self, source: _Source, tree: ast.Module) -> None:
        self._source = source
        self._tree = tree
        self._children: dict[int, tuple[list[int], list[ast.stmt]]] = {}
        self._regions: dict[tuple[int, int], dict[int, int]] = {}

    def comment_only(self, lineno: int) -> int | None:
        """The column of the comment on a 1-based line that holds only a comment, else None."""
        text = self._source.lines[lineno - 1]
        stripped = text.lstrip(" \t\f")
        if not stripped.startswith("#"):
            return None
        col = len(text) - len(stripped)
        return col if self.comment_start(lineno) == col else None

    def comment_start(self, lineno: int) -> int | None:
        """The column where a comment token starts on a 1-based line, if one does."""
        return self._comments_in(*self._region(lineno)).get(lineno)

    def _children_of(self, node: ast.AST) -> tuple[list[int], list[ast.stmt]]:
        known = self._children.get(id(node))
        if known is None:
            # Bodies come in source order, so the children are already sorted.
            children = [stmt for body in _bodies(node) for stmt in body]
            known = ([_first_line(child) for child in children], children)
            self._children[id(node)] = known
        return known

    def _starts_its_line(self, node: ast.stmt) -> bool:
        decorators: list[ast.expr] = getattr(node, "decorator_list", [])
        first: ast.expr | ast.stmt = min(decorators, key=lambda d: d.lineno, default=node)
        prefix = self._source.lines[first.lineno - 1][
            : self._source.char_col(first.lineno, first.col_offset)
        ]
        return prefix.strip(" \t\f@(" if decorators else " \t\f") == ""

    def _region(self, lineno: int) -> tuple[int, int]:
        """The 1-based line range, tokenizable on its own, that holds the line."""
        low, high = 1, len(self._source.lines)
        node: ast.AST = self._tree
        while True:
            starts, children = self._children_of(node)
            index = bisect_right(starts, lineno) - 1
            if index >= 0 and lineno <= _last_line(children[index]):
                child = children[index]
                if not self._starts_its_line(child):
                    # `if x: y` or `a; b`: the child's first line is not its own.
                    return low, high
                node, low, high = child, starts[index], _last_line(child)
                continue
            return (
                _last_line(children[index]) + 1 if index >= 0 else low,
                starts[index + 1] - 1 if index + 1 < len(children) else high,
            )

    def _comments_in(self, low: int, high: int) -> dict[int, int]:
        key = (low, high)
        if key not in self._regions:
            found = self._tokenize(low, high)
            if found is None:
                whole_file = (1, len(self._source.lines))
                found = self._comments_in(*whole_file) if key != whole_file else {}
            self._regions[key] = found
        return self._regions[key]

    def _tokenize(self, low: int, high: int) -> dict[int, int] | None:
        found: dict[int, int] = {}
        region = "\n".join(self._source.lines[low - 1 : high]) + "\n"
        try:
            for token in tokenize.generate_tokens(io.StringIO(region).readline):
                if token.type == tokenize.COMMENT:
                    found[low + token.start[0] - 1] = token.start[1]
        except (tokenize.TokenError, SyntaxError):
            return None
        return found


@dataclass
class _Binding:
    """What a name was bound to: an imported dotted name, an assigned expression, or neither."""

    line: int
    target: str | None = None
    value: ast.expr | None = None


@dataclass
class _Scope:
    """Names bound in one module, class or function body, collected when first looked up."""

    parent: _Scope | None
    body: Sequence[ast.stmt]
    is_class: bool = False
    params: Sequence[ast.arg] = ()
    params_line: int = 0
    _names: dict[str, list[_Binding]] | None = field(default=None, repr=False)
    _lines: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _stars: list[tuple[int, str]] = field(default_factory=list, repr=False)

    def lookup(self, name: str, line: int) -> tuple[_Binding, _Scope] | None:
        """The binding of a name used on a line, and the scope that holds it."""
        scope: _Scope | None = self
        while scope is not None:
            found = scope._lookup_here(name, line)
            if found is not None:
                return found, scope
            # A function body does not see the names of the class it is defined in.
            scope = scope.parent
            while scope is not None and scope.is_class:
                scope = scope.parent
        return None

    def _lookup_here(self, name: str, line: int) -> _Binding | None:
        names = self._collect()
        bindings = names.get(name)
        if bindings:
            # The binding in effect on the line; code that runs later (a nested function) sees
            # the last one.
            index = bisect_left(self._lines[name], line) - 1
            return bindings[index] if index >= 0 else bindings[-1]
        stars = [module for star_line, module in self._stars if star_line < line]
        if stars:
            return _Binding(line, target=f"{stars[-1]}.{name}")
        return None

    def _collect(self) -> dict[str, list[_Binding]]:
        if self._names is None:
            self._names = {}
            for param in self.params:
                self._bind(param.arg, _Binding(self.params_line))
            self._bind_body(self.body)
        return self._names

    def _bind(self, name: str, binding: _Binding) -> None:
        assert self._names is not None
        self._names.setdefault(name, []).append(binding)
        self._lines.setdefault(name, []).append(binding.line)

    def _bind_body(self, body: Sequence[ast.stmt]) -> None:
        for stmt in body:
            line = stmt.lineno
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        self._bind(alias.asname, _Binding(line, target=alias.name))
                    else:
                        top = alias.name.partition(".")[0]
                        self._bind(top, _Binding(line, target=top))
            elif isinstance(stmt, ast.ImportFrom):
                module = stmt.module if stmt.level == 0 else None
                for alias in stmt.names:
                    if alias.name == "*":
                        if module:
                            self._stars.append((line, module))
                        continue
                    target = f"{module}.{alias.name}" if module else None
                    self._bind(alias.asname or alias.name, _Binding(line, target=target))
            elif isinstance(stmt, ast.Assign):
                for target_node in stmt.targets:
                    self._bind_target(target_node, _Binding(line, value=stmt.value))
            elif isinstance(stmt, ast.AnnAssign):
                if stmt.value is not None:
                    self._bind_target(stmt.target, _Binding(line, value=stmt.value))
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self._bind(stmt.name, _Binding(line))
                continue
            elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.AugAssign)):
                self._bind_target(stmt.target, _Binding(line))
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    if item.optional_vars is not None:
                        self._bind_target(item.optional_vars, _Binding(line))
            for nested in _bodies(stmt):
                self._bind_body(nested)

    def _bind_target(self, node: ast.AST, binding: _Binding) -> None:
        if isinstance(node, ast.Name):
            self._bind(node.id, binding)
            return
        opaque = _Binding(binding.line)
        for inner in ast.walk(node):
            if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                self._bind(inner.id, opaque)


def _qualified_name(expr: ast.expr, scope: _Scope, line: int) -> str | None:
    """The dotted name an expression refers to (``hl.tile`` -> ``helion.language.tile``)."""
    attrs: list[str] = []
    for _ in range(_MAX_ALIAS_DEPTH):
        while isinstance(expr, ast.Attribute):
            attrs.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        found = scope.lookup(expr.id, line)
        if found is None:
            return None
        binding, scope = found
        if binding.target is not None:
            return ".".join([binding.target, *reversed(attrs)])
        if binding.value is None:
            return None
        expr, line = binding.value, binding.line
    return None


def _is_kernel_decorator(expr: ast.expr, scope: _Scope, line: int) -> bool:
    for _ in range(_MAX_ALIAS_DEPTH):
        if isinstance(expr, ast.Call):
            return _qualified_name(expr.func, scope, line) in _KERNEL_FACTORIES
        if _qualified_name(expr, scope, line) in _KERNEL_FACTORIES:
            return True
        if not isinstance(expr, ast.Name):
            return False
        # `my_kernel = helion.kernel(static_shapes=True)` then `@my_kernel`.
        found = scope.lookup(expr.id, line)
        if found is None or found[0].value is None:
            return False
        expr, line, scope = found[0].value, found[0].line, found[1]
    return False


@dataclass
class _Found:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    decorator: ast.expr
    scope: _Scope


class _Scanner:
    def __init__(self, source: _Source, tree: ast.Module) -> None:
        self.source = source
        self.tree = tree
        self.comments = _Comments(source, tree)
        self.errors: list[DirectiveError] = []
        self._below: dict[int, tuple[int, bool]] = {}
        # Decorators start their line with '@', so bodies without such a line hold no kernel
        # and need not be walked.
        self.decorator_lines: list[int] = []
        self.directive_lines: dict[int, int] = {}
        for index, text in enumerate(source.lines):
            if "@" in text and text.lstrip(" \t\f").startswith("@"):
                self.decorator_lines.append(index + 1)
            if "h2j" in text:
                for match in DIRECTIVE_START.finditer(text):
                    if self.comments.comment_start(index + 1) == match.start():
                        self.directive_lines[index] = match.start()
                        break

    def scan(self) -> ScanResult:
        found: list[_Found] = []
        self._visit(self.tree.body, _Scope(None, self.tree.body), found)
        attached: set[int] = set()
        kernels = [self._kernel(item, attached) for item in found]
        by_decorator_line = {k.first_decorator_line: k for k in kernels}
        for line, col in self.directive_lines.items():
            if line not in attached:
                self.errors.append(self._orphan(line, col, by_decorator_line))
        self.errors.sort(key=lambda e: (e.span.start_line, e.span.start_col))
        return ScanResult(tuple(kernels), tuple(self.errors), None)

    def _has_decorator(self, first: int, last: int) -> bool:
        index = bisect_left(self.decorator_lines, first)
        return index < len(self.decorator_lines) and self.decorator_lines[index] <= last

    def _visit(self, body: Sequence[ast.stmt], scope: _Scope, found: list[_Found]) -> None:
        for stmt in body:
            # A decorated function is checked even without an '@' line in its span: after
            # `@ \` the '@' is on a line above the decorator's expression, where the span starts.
            nested = self._has_decorator(_first_line(stmt), _last_line(stmt))
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                decorator = next(
                    (d for d in stmt.decorator_list if _is_kernel_decorator(d, scope, d.lineno)),
                    None,
                )
                if decorator is None and not nested:
                    continue
                args = stmt.args
                inner = _Scope(
                    scope,
                    stmt.body,
                    params=[
                        *args.posonlyargs,
                        *args.args,
                        *([args.vararg] if args.vararg else []),
                        *args.kwonlyargs,
                        *([args.kwarg] if args.kwarg else []),
                    ],
                    params_line=stmt.lineno,
                )
                if decorator is not None:
                    found.append(_Found(stmt, decorator, inner))
                if nested:
                    self._visit(stmt.body, inner, found)
            elif not nested:
                continue
            elif isinstance(stmt, ast.ClassDef):
                self._visit(stmt.body, _Scope(scope, stmt.body, is_class=True), found)
            else:
                for nested_body in _bodies(stmt):
                    self._visit(nested_body, scope, found)

    def _kernel(self, item: _Found, attached: set[int]) -> KernelInfo:
        node, source = item.node, self.source
        at_line, at_col = self._at_sign(node.decorator_list[0])
        end_lineno = node.end_lineno or node.lineno
        end_col = source.char_col(end_lineno, node.end_col_offset or 0)
        block: list[int] = []
        above = at_line - 1
        while above >= 0 and self.comments.comment_only(above + 1) is not None:
            if above in self.directive_lines:
                block.append(above)
            above -= 1
        attached.update(block)
        examples: list[Directive] = []
        singles: dict[str, Directive] = {}
        for line in reversed(block):
            directive = _parse_directive(source, line, self.directive_lines[line])
            if isinstance(directive, DirectiveError):
                self.errors.append(directive)
            elif directive.kind == "args":
                examples.append(directive)
            elif directive.kind in singles:
                first = singles[directive.kind]
                self.errors.append(
                    DirectiveError(
                        f"duplicate {directive.kind} directive for kernel {node.name!r} "
                        f"(the first is on line {first.line})",
                        directive.span,
                        "duplicate-directive",
                        "error",
                    )
                )
            else:
                singles[directive.kind] = directive
        return KernelInfo(
            name=node.name,
            name_span=self._name_span(node),
            def_span=source.span(at_line, at_col, end_lineno - 1, end_col),
            decorator_span=source.node_span(item.decorator),
            first_decorator_line=at_line,
            parameters=self._parameters(node.args),
            examples=tuple(examples),
            ref=singles.get("ref"),
            config=singles.get("config"),
            skip="skip" in singles,
            decorator_source=source.segment(item.decorator),
            tile_loops=self._tile_loops(node, item.scope),
        )

    def _at_sign(self, decorator: ast.expr) -> tuple[int, int]:
        """0-based line and column of the '@' that introduces a decorator."""
        lines = self.source.lines
        line = decorator.lineno - 1
        text = lines[line][: self.source.char_col(decorator.lineno, decorator.col_offset)]
        # `@(expr)` and `@\` continuations put the '@' before a parenthesis or a line.
        while True:
            text = text.rstrip(" \t\f(")
            if text.endswith("@"):
                return line, len(text) - 1
            if text or line == 0:
                return decorator.lineno - 1, self.source.char_col(
                    decorator.lineno, decorator.col_offset
                )
            line -= 1
            text = lines[line].rstrip(" \t\f")
            text = text.removesuffix("\\")

    def _name_span(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> Span:
        lines = self.source.lines
        col = self.source.char_col(node.lineno, node.col_offset)
        window = "\n".join(lines[node.lineno - 1 : node.lineno + 4])
        match = _DEF_NAME.match(window, col)
        if match is None:
            line = node.lineno - 1
            return self.source.span(line, col, line, col)
        line = node.lineno - 1 + window.count("\n", 0, match.start(1))
        start = match.start(1) - (window.rfind("\n", 0, match.start(1)) + 1)
        # The source spelling, not node.name: Python stores identifiers NFKC-normalised
        # ("ﬁle" becomes "file"), which can change their length. Combining marks
        # continue an identifier but are not \w, so the regex match is extended.
        end = match.end(1)
        while end < len(window) and ("a" + window[end]).isidentifier():
            end += 1
        return self.source.span(line, start, line, start + end - match.start(1))

    def _parameters(self, args: ast.arguments) -> tuple[Parameter, ...]:
        positional = [*args.posonlyargs, *args.args]
        defaults: list[ast.expr | None] = [
            *([None] * (len(positional) - len(args.defaults))),
            *args.defaults,
        ]
        params = [
            self._parameter(arg, default, "positional")
            for arg, default in zip(positional, defaults, strict=True)
        ]
        if args.vararg is not None:
            params.append(self._parameter(args.vararg, None, "var_positional"))
        params.extend(
            self._parameter(arg, default, "keyword_only")
            for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
        )
        if args.kwarg is not None:
            params.append(self._parameter(args.kwarg, None, "var_keyword"))
        return tuple(params)

    def _parameter(
        self,
        arg: ast.arg,
        default: ast.expr | None,
        kind: Literal["positional", "keyword_only", "var_positional", "var_keyword"],
    ) -> Parameter:
        annotation = None if arg.annotation is None else self._unparse(arg.annotation)
        return Parameter(
            arg.arg, annotation, None if default is None else self._unparse(default), kind
        )

    def _unparse(self, node: ast.expr) -> str:
        try:
            return ast.unparse(node)
        except RecursionError:
            # Deeply nested expressions that the parser still accepts.
            return self.source.segment(node)

    def _tile_loops(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope
    ) -> tuple[Span, ...]:
        calls = [
            loop.iter
            for stmt in node.body
            for loop in ast.walk(stmt)
            if isinstance(loop, ast.For)
            and isinstance(loop.iter, ast.Call)
            and _qualified_name(loop.iter.func, scope, loop.lineno) in _TILE_FUNCTIONS
        ]
        calls.sort(key=lambda call: (call.lineno, call.col_offset))
        return tuple(self.source.node_span(call) for call in calls)

    def _code_below(self, line: int) -> tuple[int, bool]:
        """The first line after a 0-based line that is neither blank nor only a comment, and
        whether a blank line comes before it."""
        lines = self.source.lines
        # Remembered per line so that many directives in one long comment block stay linear.
        path: list[int] = []
        below = line + 1
        while below not in self._below:
            if below >= len(lines) or (
                lines[below].strip() and self.comments.comment_only(below + 1) is None
            ):
                self._below[below] = (below, False)
                break
            path.append(below)
            below += 1
        code, saw_blank = self._below[below]
        for passed in reversed(path):
            saw_blank = saw_blank or not lines[passed].strip()
            self._below[passed] = (code, saw_blank)
        return self._below[line + 1]

    def _orphan(self, line: int, col: int, kernels: dict[int, KernelInfo]) -> DirectiveError:
        lines = self.source.lines
        message = (
            "h2j directive is not attached to a helion kernel; directives go in the comment "
            "block directly above the kernel's first decorator"
        )
        text = lines[line]
        # A directive after code on its line cannot belong to the comment block below it.
        if not text[:col].strip():
            below, saw_blank = self._code_below(line)
            kernel = kernels.get(below)
            if saw_blank and kernel is not None:
                message = (
                    "h2j directive is not attached to a helion kernel; a blank line separates "
                    f"it from kernel {kernel.name!r}"
                )
        return DirectiveError(
            message,
            self.source.span(line, col, line, len(text.rstrip())),
            "orphan-directive",
            "warning",
        )


def _parse_directive(source: _Source, line: int, col: int) -> Directive | DirectiveError:
    """Parse the directive comment that starts at (line, col), both 0-based."""
    text = source.lines[line]
    end = len(text.rstrip())

    def span(start: int, stop: int) -> Span:
        return source.span(line, start, line, stop)

    def error(message: str, start: int, stop: int) -> DirectiveError:
        return DirectiveError(message, span(start, stop), "directive-syntax", "error")

    head = DIRECTIVE_START.match(text, col)
    assert head is not None
    name = _DIRECTIVE_NAME.match(text, head.end(), end)
    if name is None:
        return error(
            "empty h2j directive: expected args(...), skip, ref(...) or config(...)", col, end
        )
    kind, kind_end = name.group(1), name.end()
    if kind not in DIRECTIVE_KINDS:
        return DirectiveError(
            f"unknown h2j directive {kind!r}: expected one of {', '.join(DIRECTIVE_KINDS)}",
            span(name.start(1), kind_end),
            "unknown-directive",
            "error",
        )
    rest = text[kind_end:end]
    rest_start = kind_end + len(rest) - len(rest.lstrip(" \t"))
    if kind == "skip":
        if rest.strip() and not rest.lstrip(" \t").startswith("#"):
            return error("skip takes no arguments", rest_start, end)
        return Directive("skip", "", span(col, end), span(kind_end, kind_end))
    if not rest.lstrip(" \t").startswith("("):
        return error(f"expected '(' after {kind}", name.start(1), end)

    # Column i of `call` is column kind_end + i - 1 of the line.
    call = "f" + rest
    try:
        with warnings.catch_warnings():  # as for the whole file
            warnings.simplefilter("ignore")
            tree = ast.parse(call, mode="eval")
    except SyntaxError as exc:
        offset = exc.offset or 1
        start = min(max(kind_end + offset - 2, kind_end), end)
        stop = start + 1
        if exc.end_lineno == exc.lineno and exc.end_offset and exc.end_offset > offset:
            stop = kind_end + exc.end_offset - 2
        return error(f"malformed {kind}(...) directive: {exc.msg}", start, min(stop, end))
    except (RecursionError, MemoryError):
        return error(f"malformed {kind}(...) directive: too deeply nested", kind_end, end)

    def column(offset: int | None) -> int:
        return kind_end + _char_offset(call, offset or 0) - 1

    leading = _leading_call(tree.body)
    if leading is not tree.body:
        return error(
            f"unexpected text after {kind}(...)",
            column(leading.end_col_offset),
            column(tree.body.end_col_offset),
        )
    open_paren = call.index("(")
    close_paren = _char_offset(call, leading.end_col_offset or 0) - 1
    text_start, text_end = kind_end + open_paren, kind_end + close_paren - 1
    if kind == "ref" and (
        len(leading.args) != 1 or leading.keywords or isinstance(leading.args[0], ast.Starred)
    ):
        return error("ref(...) takes exactly one expression", text_start, text_end)
    if kind == "config":
        unnamed: list[ast.expr | ast.keyword] = [
            *leading.args,
            *(keyword for keyword in leading.keywords if keyword.arg is None),
        ]
        if unnamed:
            return error(
                "config(...) takes keyword arguments only",
                column(unnamed[0].col_offset),
                column(unnamed[0].end_col_offset),
            )
    return Directive(
        kind, call[open_paren + 1 : close_paren], span(col, end), span(text_start, text_end)
    )


def _leading_call(expr: ast.expr) -> ast.Call:
    """The `f(...)` call that begins an expression parsed from ``"f" + rest``."""
    node: ast.AST = expr
    while not (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.col_offset == 0
    ):
        # The grammar makes `f` followed by `(` a call, so the leftmost node leads to it.
        node = min(
            (
                child
                for child in ast.iter_child_nodes(node)
                if isinstance(child, (ast.expr, ast.keyword))
            ),
            key=lambda child: (child.lineno, child.col_offset),
        )
    return node
