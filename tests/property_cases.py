"""The properties of validation, source scanning and the expression grammar: each a strategy
plus a ``check_*`` function, listed in ``PROPERTIES``.

``tests/test_properties.py`` runs every property with a few hundred examples; ``bench/fuzz.py``
runs the same list with many more and counts the failures instead of stopping at the first.
"""

from __future__ import annotations

import ast
import functools
import json
import keyword
import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from hypothesis import strategies as st
from property_documents import (
    _ANY_CHAR,
    _DEPTH,
    _FUNCTION_WORDS,
    _LINE_BREAK,
    DEEP_JSON_VALUES,
    EXPRESSION_INPUTS,
    Broken,
    _identifiers,
    broken_documents,
    expressions_with_values,
    near_valid_documents,
    renamed_documents,
)

from h2j_lsp.discovery import ScanResult, Span, args_template, scan_source
from helion2json import ValidationError, validate_spec
from helion2json.core.expr import (
    BinOp,
    Dim,
    Expr,
    ExprSyntaxError,
    Neg,
    Node,
    Num,
    Ref,
    Size,
    evaluate,
    format_expr,
    parse_expr,
    walk,
)

DocPath = tuple[str | int, ...]
T = TypeVar("T")

# ---------------------------------------------------------------------- source text

_KERNEL_FILE = """\
import torch
import helion
import helion.language as hl


# h2j: args(torch.randn(64, 64, device=DEVICE), torch.randn(64, 64, device=DEVICE))
# h2j: config(block_sizes=[16, 16, 16])
@helion.kernel(static_shapes=True)
def {name}(x: torch.Tensor, y: torch.Tensor, *, alpha: float = 1.0) -> torch.Tensor:
    m, k = x.size()
    _, n = y.size()
    out = torch.empty([m, n], dtype=x.dtype, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])
        out[tile_m, tile_n] = acc * alpha
    return out


# h2j: skip
# h2j: ref(torch.add)
@helion.kernel
def add(x: torch.Tensor, y: "torch.Tensor", n: int, scale: float) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(out.size()):
        out[tile] = x[tile] + y[tile] * scale
    return out
"""
# Python normalises identifiers to NFKC, so a kernel's name can be shorter or longer than its
# spelling in the source; a backslash continuation puts the name on the line after `def`.
_KERNEL_NAMES = (
    "matmul",
    "\ufb01le",
    "\uff4d\uff4d",
    "e\u0301t\u00e9",
    "\ufb03",
    "\U0001d523\U0001d52c",
)

_PY_FRAGMENTS = (
    "\n", "\r\n", "\r", "    ", "\t", "\f", "\\\n", "@", "@helion.kernel", "@helion.jit()",
    "@hl.kernel", "import helion\n", "import helion.language as hl\n", "from helion import *\n",
    "from helion import kernel as k\n", "def ", "async def ", "class C:", "f", "(", ")", "[", "]",
    ":", ",", "=", "x", "# h2j: ", "#h2j:", "args(", "skip", "ref(", "config(", "x=1",
    "for t in hl.tile(", "'", '"', '"""', "\\", "\ufeff", "\x00", "\u00e9", "\U0001f600",
    "\u2028", "pass", "return", "if x:", "else:", "match x:", "case 1:", ";", "lambda", "*", "**",
    "->", "#",
)  # fmt: skip
_python_ish = st.lists(st.sampled_from(_PY_FRAGMENTS) | st.text(_ANY_CHAR, max_size=3)).map("".join)
# Without line breaks, so that a directive holding it stays one comment line.
_python_ish_line = st.lists(
    st.sampled_from([f for f in _PY_FRAGMENTS if not _LINE_BREAK.search(f)])
).map("".join)


def source_texts() -> st.SearchStrategy[str]:
    return st.text(_ANY_CHAR) | _python_ish


def _directive_lines() -> st.SearchStrategy[str]:
    body = st.one_of(
        st.text(_ANY_CHAR),
        _python_ish_line,
        st.just("torch.randn(16, 16, device=DEVICE), n=3"),
        _DEPTH.map(lambda n: "(" * n),
        _DEPTH.map(lambda n: "(" * n + "x" + ")" * n),
        _DEPTH.map(lambda n: "[" * n + "]" * n),
        st.integers(1, 100_000).map(lambda n: "x" * n),
    )
    return st.builds(
        "{}{}{}({}{}".format,
        st.sampled_from(["", "    ", "\t", " \f"]),
        st.sampled_from(["# h2j: ", "#h2j:", "# h2j :", "#\th2j:  "]),
        st.sampled_from(["args", "skip", "ref", "config", "arg", "ARGS", "", "h2j", "args "]),
        body,
        st.sampled_from([")", "", "))", ") # trailing", ") extra"]),
    )


_DIRECTIVE_LINES = _directive_lines()
_OTHER_LINES = st.text(_ANY_CHAR, max_size=30) | _python_ish


@st.composite
def spliced_kernel_files(draw: st.DrawFn) -> str:
    """The kernel file above with lines inserted or replaced, in any line-break style."""
    name = draw(st.sampled_from(_KERNEL_NAMES))
    def_name = draw(st.sampled_from([name, f"\\\n    {name}", f"{name}\\\n    "]))
    lines = _KERNEL_FILE.replace("{name}", def_name).split("\n")
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(lines) - 1))
        # Mostly directives: other lines tend to break the parse, and a file that does not
        # parse only reaches the syntax-error path.
        line = draw(_DIRECTIVE_LINES if draw(st.integers(0, 3)) else _OTHER_LINES)
        replaced = draw(st.integers(0, 3)) == 0  # replacing code lines also breaks the parse
        lines[at : at + replaced] = [line]
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)
    return "\ufeff" + text if draw(st.booleans()) else text


_Kind = Literal["positional", "keyword_only"]


@dataclass(frozen=True)
class Param:
    name: str
    annotation: str | None
    default: bool
    kind: _Kind


@dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...]
    var_args: bool
    var_kwargs: bool

    def source(self, directive: str = "") -> str:
        positional = sorted(
            (p for p in self.params if p.kind == "positional"), key=lambda p: p.default
        )
        keyword_only = [p for p in self.params if p.kind == "keyword_only"]
        parts = [self._param(p) for p in positional]
        if self.var_args:
            parts.append("*args")
        elif keyword_only:
            parts.append("*")
        parts += [self._param(p) for p in keyword_only]
        if self.var_kwargs:
            parts.append("**kwargs")
        return (
            f"import torch\nimport helion\n\n{directive}\n@helion.kernel\n"
            f"def kernel({', '.join(parts)}):\n    pass\n"
        )

    @staticmethod
    def _param(param: Param) -> str:
        annotation = f": {param.annotation}" if param.annotation else ""
        return param.name + annotation + (" = 1" if param.default else "")


_PARAM_NAMES = _identifiers(8).filter(
    lambda name: not keyword.iskeyword(name) and name not in ("args", "kwargs")
)


# The annotations args_template knows, quoted or not, and some it has to leave as None.
_ANNOTATIONS = st.sampled_from(
    [
        None,
        "torch.Tensor",
        "Tensor",
        "float",
        "int",
        "bool",
        "'torch.Tensor'",
        '"int"',
        "list[int]",
        "torch.dtype",
        "int | None",
    ]
)
_KINDS: tuple[_Kind, ...] = ("positional", "keyword_only")


@st.composite
def signatures(draw: st.DrawFn) -> Signature:
    names = draw(st.lists(_PARAM_NAMES, max_size=8, unique=True))
    params = tuple(
        Param(name, draw(_ANNOTATIONS), draw(st.booleans()), draw(st.sampled_from(_KINDS)))
        for name in names
    )
    return Signature(params, draw(st.booleans()), draw(st.booleans()))


# ---------------------------------------------------------------------------- properties


class UnexpectedError(AssertionError):
    """A function under test raised an exception that its contract does not allow."""

    def __init__(self, exc: Exception) -> None:
        # The innermost frame with a file (dataclasses generate code in "<string>"); walked by
        # hand because extracting a recursion error's thousand frames is slow.
        where, line = "?", 0
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename != "<string>":
                where, line = Path(tb.tb_frame.f_code.co_filename).name, tb.tb_lineno
            tb = tb.tb_next
        # Where the recursion limit strikes varies from input to input; the file does not.
        self.kind = f"{type(exc).__name__} in {where}"
        super().__init__(f"{type(exc).__name__}: {exc} (at {where}:{line})")


def _one_failure_site(check: Callable[[T], None]) -> Callable[[T], None]:
    """Re-raise what escapes ``check`` as an ``UnexpectedError`` raised from one place and
    outside any handler, so that hypothesis sees one failure to shrink rather than one per
    frame where the recursion limit happened to strike."""

    @functools.wraps(check)
    def checked(value: T) -> None:
        try:
            check(value)
            return
        except AssertionError:
            raise
        except Exception as exc:  # anything else breaks the contract under test
            unexpected = UnexpectedError(exc)
        raise unexpected

    return checked


@_one_failure_site
def check_validate_spec(payload: Any) -> None:
    """``validate_spec`` returns a model or raises ``ValidationError``; a model survives both ways
    back in: as JSON text and as the model itself."""
    try:
        spec = validate_spec(payload)
    except ValidationError:
        return
    assert validate_spec(spec) == spec
    # The exporter writes with allow_nan=False: what validates must be standard JSON.
    text = json.dumps(spec.model_dump(mode="json"), allow_nan=False)
    assert validate_spec(json.loads(text)) == spec


@_one_failure_site
def check_rejected(broken: Broken) -> None:
    try:
        validate_spec(broken.doc)
    except ValidationError:
        return
    raise AssertionError(f"validate_spec accepted a document that {broken.reason}")


@_one_failure_site
def check_accepted(doc: Any) -> None:
    validate_spec(doc)


@_one_failure_site
def check_expr_round_trip(case: tuple[Node, dict[Node, int]]) -> None:
    tree, values = case
    text = format_expr(tree)
    parsed = parse_expr(text)
    assert parsed == _canonical(tree), text
    assert format_expr(parsed) == text
    assert _outcome(parsed, values) == _outcome(tree, values), text


def _canonical(node: Node, root: bool = True) -> Node:
    """The tree the parser makes of ``format_expr(node)``: a negative number is written, and so
    read back, as a negation (at the root only an integer stays a JSON number). ``-0.0`` is
    negative too: it is written ``-0.0``."""
    negative = isinstance(node, Num) and math.copysign(1, node.value) < 0
    if isinstance(node, Num) and negative and not (root and type(node.value) is int):
        return Neg(Num(-node.value))
    if isinstance(node, Neg):
        return Neg(_canonical(node.operand, root=False))
    if isinstance(node, BinOp):
        return BinOp(node.op, _canonical(node.left, root=False), _canonical(node.right, root=False))
    return node


def _outcome(node: Node, values: dict[Node, int]) -> str:
    # Both trees must fail at the same point, so an error counts as an outcome; repr() makes
    # a NaN equal to itself and tells 1 from 1.0 and True.
    try:
        return repr(evaluate(node, values.__getitem__))
    except (ZeroDivisionError, OverflowError) as exc:
        return type(exc).__name__


def _python_outcome(text: Expr, values: dict[Node, int]) -> str:
    """What Python itself computes from the expression's text."""
    names: dict[str, Any] = {
        "min": min,
        "max": max,
        "cdiv": lambda a, b: -(-a // b),
        "dim": lambda tensor, axis: values[Dim(tensor.name, axis)],
        "size": lambda tile: values[Size(tile.name)],
    }

    class Name:
        def __init__(self, name: str) -> None:
            self.name = name

    class Scope(dict[str, Any]):
        def __missing__(self, key: str) -> Any:
            # A bare name is a Ref; inside dim()/size() it names a tensor or a tile.
            return values.get(Ref(key), Name(key))

    try:
        return repr(eval(str(text), {"__builtins__": {}}, Scope(names)))
    except (ZeroDivisionError, OverflowError) as exc:
        return type(exc).__name__


def check_expr_python_semantics(case: tuple[Node, dict[Node, int]]) -> None:
    """``evaluate`` computes what Python computes from the same text, where no name of the tree
    is also a function word of the grammar."""
    tree, values = case
    refs = {n.name for n in walk(tree) if isinstance(n, Ref)}
    holders = {
        n.tensor if isinstance(n, Dim) else n.tile for n in walk(tree) if isinstance(n, Dim | Size)
    }
    if (refs | holders) & _FUNCTION_WORDS or refs & holders:
        return
    text = format_expr(tree)
    assert _outcome(tree, values) == _python_outcome(text, values), text


@_one_failure_site
def check_parse_expr(value: Any) -> None:
    """``parse_expr`` returns a tree or raises ``ExprSyntaxError``; it accepts only ASCII tokens
    (the grammar's; consumers outside Python read nothing else), and what it accepts formats to
    text that reads back to the same text."""
    try:
        node = parse_expr(value)
    except ExprSyntaxError:
        return
    if isinstance(value, str):
        assert re.sub(r"\s", "", value).isascii(), f"accepted non-ASCII {value!r} as {node}"
    # Text, not trees, is compared: comparing trees thousands of levels deep would recurse.
    text = format_expr(node)
    assert format_expr(parse_expr(text)) == text


@_one_failure_site
def check_scan(text: str) -> None:
    """``scan_source`` never raises; its spans lie within the text's lines and cover what they
    name; ``args_template`` gives one line for each kernel found."""
    result = scan_source(text)
    lines = _LINE_BREAK.split(text)
    for what, span in _spans(result):
        assert 0 <= span.start_line <= span.end_line < len(lines), (what, span, len(lines))
        assert 0 <= span.start_col <= len(lines[span.start_line]), (what, span)
        assert 0 <= span.end_col <= len(lines[span.end_line]), (what, span)
        assert span.start_line < span.end_line or span.start_col <= span.end_col, (what, span)
    for kernel in result.kernels:
        for directive in filter(None, [*kernel.examples, kernel.ref, kernel.config]):
            span = directive.text_span
            assert lines[span.start_line][span.start_col : span.end_col] == directive.text
        template = args_template(kernel)
        assert _LINE_BREAK.search(template) is None, template
        assert template.startswith("# h2j: args(") and template.endswith(")"), template
    # Last, so that a kernel whose name fails it has had every other check.
    for kernel in result.kernels:
        span = kernel.name_span
        spelled = lines[span.start_line][span.start_col : span.end_col]
        # Python reads identifiers in NFKC, so the name's spelling may differ from its value.
        assert unicodedata.normalize("NFKC", spelled) == kernel.name, (spelled, kernel.name)


def _spans(result: ScanResult) -> Iterator[tuple[str, Span]]:
    if result.syntax_error is not None:
        yield "syntax error", result.syntax_error.span
    for error in result.errors:
        yield error.code, error.span
    for kernel in result.kernels:
        yield f"{kernel.name} name", kernel.name_span
        yield f"{kernel.name} def", kernel.def_span
        yield f"{kernel.name} decorator", kernel.decorator_span
        for loop in kernel.tile_loops:
            yield f"{kernel.name} tile loop", loop
        for directive in filter(None, [*kernel.examples, kernel.ref, kernel.config]):
            yield f"{kernel.name} {directive.kind}", directive.span
            yield f"{kernel.name} {directive.kind} text", directive.text_span


@_one_failure_site
def check_args_template(signature: Signature) -> None:
    """The template, put above the kernel, is an ``args`` directive that attaches to it without
    errors and passes each required parameter once, keyword-only ones by name."""
    (kernel,) = scan_source(signature.source()).kernels
    template = args_template(kernel)
    rescanned = scan_source(signature.source(template))
    assert rescanned.errors == () and rescanned.syntax_error is None, (template, rescanned)
    (example,) = rescanned.kernels[0].examples
    call = ast.parse(f"f({example.text})", mode="eval").body
    assert isinstance(call, ast.Call)
    required = [p for p in signature.params if not p.default]
    assert len(call.args) == sum(p.kind == "positional" for p in required), template
    assert [k.arg for k in call.keywords] == [p.name for p in required if p.kind == "keyword_only"]


@dataclass(frozen=True)
class Property:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]


PROPERTIES: tuple[Property, ...] = (
    Property("validate_spec arbitrary JSON", DEEP_JSON_VALUES, check_validate_spec),
    Property("validate_spec near-valid documents", near_valid_documents(), check_validate_spec),
    Property("validate_spec broken cross-references", broken_documents(), check_rejected),
    Property("validate_spec consistent renames", renamed_documents(), check_accepted),
    Property("parse_expr round trip", expressions_with_values(), check_expr_round_trip),
    Property("evaluate is Python", expressions_with_values(), check_expr_python_semantics),
    Property("parse_expr arbitrary input", EXPRESSION_INPUTS, check_parse_expr),
    Property("scan_source arbitrary text", source_texts(), check_scan),
    Property("scan_source spliced kernel files", spliced_kernel_files(), check_scan),
    Property("args_template round trip", signatures(), check_args_template),
)
