"""Inputs for the properties of validation and the expression grammar: valid documents to start
from, strategies that make near-valid, broken and renamed documents, arbitrary JSON, and
expressions."""

from __future__ import annotations

import copy
import json
import operator
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import strategies as st

from helion2json.core.expr import (
    BinOp,
    Dim,
    Neg,
    Node,
    Num,
    Ref,
    Size,
    format_expr,
    parse_expr,
    walk,
)

DocPath = tuple[str | int, ...]
T = TypeVar("T")

# ------------------------------------------------------------------------ valid documents

_CONTRACT = (
    Path(__file__).resolve().parents[1] / "helion2json" / "tests" / "data" / "contract_matmul.json"
)


def _tensor(rank: int, elem: str = "f32") -> dict[str, Any]:
    return {"tensor": {"shape": ["?"] * rank, "elem": elem}}


def _window(base: str, offsets: list[Any], sizes: list[Any]) -> dict[str, Any]:
    return {"base": base, "offsets": offsets, "sizes": sizes}


def _kitchen_sink() -> dict[str, Any]:
    """A valid function that uses every op family of docs/json-format.md, so that mutations reach
    every model and every cross-reference rule (the contract's matmul uses only a few)."""
    body: list[dict[str, Any]] = [
        {"op": "hl.alloc", "shape": ["dim(x,0)", "dim(x,1)"], "dtype": "f32", "result": "out"},
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "i32", "result": "counts", "fill": 0},
        {"op": "hl.register_block_size", "result": "block_m", "size": 16, "min": 1, "max": "n"},
        {
            "op": "hl.tile.begin",
            "iters": ["m"],
            "sizes": ["block_m"],
            "result": ["tile_m"],
            "begin": [0],
            "end": ["dim(x,0)"],
            "parallel": True,
            "loc": {"file": "examples/sink.py", "line": 12, "col": 4},
        },
        {"op": "hl.tile.index", "tile": "tile_m", "result": "rows"},
        {"op": "hl.tile.begin_of", "tile": "tile_m", "result": "row0"},
        {
            "op": "hl.full",
            "shape": ["size(tile_m)", "dim(x,1)"],
            "value": "-inf",
            "dtype": "f32",
            "result": "running",
        },
        {
            "op": "hl.load",
            "result": "xs",
            "base": "x",
            "index": [{"tile": "tile_m"}, {"full": True}],
        },
        {
            "op": "hl.load",
            "result": "gathered",
            "base": "y",
            "index": [{"tensor": "rows"}, {"full": True}],
            "mask": "rows",
        },
        {
            "op": "hl.load",
            "result": "window",
            "slice": _window("x", ["tile_m", 0], ["size(tile_m)", "min(dim(x,1), n)"]),
        },
        {"op": "hl.mask_to", "src": "xs", "value": "-inf", "result": "masked"},
        {
            "op": "torch.amax",
            "overload": "default",
            "args": ["masked"],
            "attrs": {"dim": [1], "keepdim": True},
            "result": "row_max",
        },
        {
            "op": "torch.gt",
            "overload": "Scalar",
            "args": ["row_max", 0.0],
            "attrs": {},
            "result": "positive",
        },
        {"op": "hl.if.begin", "cond": "positive"},
        {"op": "hl.assign", "src": "window", "result": "running"},
        {"op": "hl.if.else"},
        {
            "op": "hl.zeros",
            "shape": ["size(tile_m)", "dim(x,1)"],
            "dtype": "f32",
            "result": "zeros",
        },
        {"op": "hl.assign", "src": "zeros", "result": "running"},
        {"op": "hl.if.end"},
        {"op": "hl.cumsum", "src": "running", "dim": 1, "result": "summed"},
        {
            "op": "hl.subscript",
            "src": "summed",
            "index": [{"full": True}, {"at": "n - 1"}, {"newaxis": True}],
            "result": "last",
        },
        {"op": "hl.split", "src": "last", "result": ["lo", "hi"]},
        {"op": "hl.join", "args": ["lo", "hi"], "result": "joined"},
        {
            "op": "hl.dot",
            "args": ["xs", {"slice": _window("y", [0, 0], ["dim(y,0)", "dim(y,1)"])}],
            "out_dtype": "f32",
            "result": "prod",
        },
        {
            "op": "torch.mul",
            "overload": "Tensor",
            "args": ["prod", "scale"],
            "attrs": {},
            "result": "scaled",
            "operand_dtype": "f32",
        },
        {
            "op": "torch.div",
            "overload": "Tensor",
            "args": ["scaled", {"expr": "dim(x,1) * 2"}],
            "attrs": {},
            "result": "averaged",
        },
        {
            "op": "hl.reduce",
            "args": ["xs", "gathered"],
            "dim": 1,
            "keep_dims": False,
            "combine": {
                "params": ["value_a", "index_a", "value_b", "index_b"],
                "body": [
                    {
                        "op": "torch.maximum",
                        "overload": "default",
                        "args": ["value_a", "value_b"],
                        "attrs": {},
                        "result": "value_c",
                    },
                    {
                        "op": "torch.minimum",
                        "overload": "default",
                        "args": ["index_a", "index_b"],
                        "attrs": {},
                        "result": "index_c",
                    },
                ],
                "results": ["value_c", "index_c"],
            },
            "result": ["best", "best_index"],
        },
        {
            "op": "hl.associative_scan",
            "args": ["averaged"],
            "dim": 1,
            "reverse": True,
            "combine": {
                "params": ["left", "right"],
                "body": [
                    {
                        "op": "torch.add",
                        "overload": "Tensor",
                        "args": ["left", "right"],
                        "attrs": {"alpha": 1},
                        "result": "both",
                    }
                ],
                "results": ["both"],
            },
            "result": ["scanned"],
        },
        {
            "op": "hl.store",
            "dst": "out",
            "index": [{"tile": "tile_m"}, {"full": True}],
            "src": "scanned",
            "mask": "positive",
        },
        {
            "op": "hl.atomic_add",
            "dst": "counts",
            "index": [{"tile": "tile_m"}],
            "src": 1,
            "sem": "relaxed",
            "result": "old",
        },
        {
            "op": "hl.atomic_cas",
            "dst": "counts",
            "index": [{"at": "row0"}],
            "src": 2,
            "expected": "old",
            "sem": "acq_rel",
        },
        {"op": "hl.tile.end"},
        {"op": "hl.barrier"},
        {
            "op": "hl.tile.begin",
            "iters": ["j"],
            "sizes": [8],
            "result": ["tile_n"],
            "begin": [0],
            "end": ["cdiv(dim(x,1), 2) * 2 - -0"],
            "parallel": True,
        },
        {
            "op": "torch.sort",
            "overload": "default",
            "args": [{"slice": _window("out", [0, "tile_n"], ["dim(x,0)", "size(tile_n)"])}],
            "attrs": {"dim": -1, "descending": False, "device": None},
            "result": ["values", "indices"],
        },
        {"op": "hl.store_slice", "dst": "out", "offsets": [0, "tile_n"], "src": "values"},
        {"op": "hl.tile.end"},
        {"op": "hl.return", "values": ["out", "counts"]},
    ]
    sink = {
        "name": "sink",
        "args": [
            {"id": "x", "type": _tensor(2)},
            {"id": "y", "type": _tensor(2)},
            {"id": "n", "type": {"scalar": "i64"}},
            {"id": "scale", "type": {"scalar": "f64"}},
        ],
        "rets": [{"type": _tensor(2)}, {"type": _tensor(1, "i32")}],
        "body": body,
        "config": {"source": "autotune", "values": {"block_sizes": [16, 8], "num_warps": 4}},
    }
    matmul = json.loads(_CONTRACT.read_text())["module"]["funcs"][0]
    return {"version": 1, "module": {"name": "helion_module", "funcs": [matmul, sink]}}


BASE_DOCUMENTS: tuple[dict[str, Any], ...] = (
    json.loads(_CONTRACT.read_text()),
    _kitchen_sink(),
)

# ----------------------------------------------------------------------- document helpers

_NON_FINITE = frozenset({"inf", "-inf", "nan"})
_EXPR_KEYS = frozenset(
    {"shape", "offsets", "sizes", "begin", "end", "size", "min", "max", "at", "expr"}
)
# Keys whose strings name something defined earlier (or are expressions that do).
_USE_KEYS = _EXPR_KEYS | {
    "args",
    "src",
    "cond",
    "expected",
    "value",
    "base",
    "dst",
    "mask",
    "tile",
    "values",
    "tensor",
    "results",
}
# Keys whose strings are never names, so renaming must leave them alone.
_OPAQUE_KEYS = frozenset(
    {"op", "overload", "dtype", "out_dtype", "operand_dtype", "elem", "sem", "iters", "attrs"}
    | {"loc"}
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _identifiers(max_tail: int) -> st.SearchStrategy[str]:
    """ASCII identifiers (built directly: st.from_regex is several times slower)."""
    head = st.sampled_from(string.ascii_letters + "_")
    return st.builds(
        operator.add, head, st.text(string.ascii_letters + string.digits + "_", max_size=max_tail)
    )


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # how both Python and LSP count lines


def _nodes(value: Any) -> Iterator[tuple[DocPath, Any]]:
    """Every value in a document with its path, in document order."""
    # A loop, not recursion: mutations put deeply nested values into documents.
    stack: list[tuple[DocPath, Any]] = [((), value)]
    while stack:
        path, value = stack.pop()
        yield path, value
        if isinstance(value, dict):
            stack.extend(((*path, key), item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in reversed(list(enumerate(value))))


def _get(doc: Any, path: DocPath) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: Any, path: DocPath, value: Any) -> Any:
    """Set the value at ``path``; returns the new document (which is ``value`` at the root)."""
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _key(path: DocPath) -> str | None:
    """The innermost dict key on a path: which field a list entry belongs to."""
    return next((part for part in reversed(path) if isinstance(part, str)), None)


def _opaque(path: DocPath) -> bool:
    return not _OPAQUE_KEYS.isdisjoint(part for part in path if isinstance(part, str))


def _in_body(path: DocPath) -> bool:
    return "body" in path and not _opaque(path)


def _bodies(doc: Any) -> list[list[Any]]:
    return [
        value for path, value in _nodes(doc) if isinstance(value, list) and _key(path) == "body"
    ]


def _expression_slots(doc: Any) -> list[DocPath]:
    return [
        path
        for path, value in _nodes(doc)
        if _in_body(path)
        and _key(path) in _EXPR_KEYS
        and (isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)))
    ]


def _use_slots(doc: Any) -> list[DocPath]:
    names = [
        path
        for path, value in _nodes(doc)
        if _in_body(path)
        and _key(path) in _USE_KEYS
        and isinstance(value, str)
        and value not in _NON_FINITE
    ]
    return sorted(set(names) | set(_expression_slots(doc)))


def _names_used(ops: list[Any]) -> set[str]:
    """Names that the use slots of valid ops refer to."""
    used: set[str] = set()
    holder = {"body": ops}
    for path in _use_slots(holder):
        for node in walk(parse_expr(_get(holder, path))):
            if isinstance(node, Ref):
                used.add(node.name)
            elif isinstance(node, Size):
                used.add(node.tile)
            elif isinstance(node, Dim):
                used.add(node.tensor)
    return used


def _results(op: Any) -> list[str]:
    result = op.get("result") if isinstance(op, dict) else None
    return [result] if isinstance(result, str) else list(result) if isinstance(result, list) else []


def _rename_in(text: str, old: str, new: str) -> str:
    """``text`` with every whole-word ``old`` made ``new``, except before "(": there it is
    one of the grammar's functions, which a name can share a spelling with."""
    name = rf"(?<![A-Za-z0-9_]){re.escape(old)}(?![A-Za-z0-9_])(?!\s*\()"
    return re.sub(name, lambda _: new, text)


def _rename(value: Any, old: str, new: str) -> None:
    """Rename ``old`` to ``new`` in place, in every name and expression string under ``value``."""
    for path, text in list(_nodes(value)):
        if path and isinstance(text, str) and not _opaque(path):
            _set(value, path, _rename_in(text, old, new))


# -------------------------------------------------------------------------- JSON values

_FIELD_NAMES = sorted(
    {"version", "module", "name", "funcs", "args", "rets", "body", "config", "id", "type"}
    | {"tensor", "scalar", "elem", "op", "result", "slice", "index", "tile", "full", "newaxis"}
    | {"iters", "parallel", "dtype", "fill", "attrs", "overload", "loc", "file", "line", "col"}
    | {"reverse", "out_dtype", "source", "dim"}
    | _USE_KEYS
)
# Strings that mean something to the format, so that arbitrary values often get past the first
# structural check and reach the deeper ones.
_FORMAT_STRINGS = (
    "hl.alloc",
    "hl.tile.begin",
    "hl.tile.end",
    "hl.load",
    "hl.store",
    "hl.return",
    "hl.if.begin",
    "torch.add",
    "default",
    "f32",
    "i64",
    "?",
    "inf",
    "-inf",
    "nan",
    "x",
    "out",
    "acc",
    "tile_m",
    "dim(x,0)",
    "size(tile_m)",
)
_ANY_CHAR = st.characters(exclude_categories=())  # lone surrogates too: json.loads makes them
_DEPTH = st.integers(min_value=1, max_value=5000)
# Deeper than pydantic serialises (254 levels), shallow enough that copying, comparing and
# renaming documents that hold such a value stay within Python's recursion limit.
_DOCUMENT_DEPTH = st.integers(min_value=1, max_value=300)


def _nest(depth: int) -> Any:
    value: Any = 0
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


def _json_values(depths: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    """Any value ``json.loads`` can return, including infinities (Python's json reads
    ``Infinity``), integers up to the 4300 digits it converts, and nesting as deep as
    ``depths``. NaN is left out: it is unequal to itself, so round trips could not compare."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**4000), max_value=10**4000),
        st.floats(allow_nan=False),
        st.text(_ANY_CHAR, max_size=20),
        st.sampled_from(_FORMAT_STRINGS),
        depths.map(_nest),
    )
    keys = st.sampled_from(_FIELD_NAMES) | st.text(_ANY_CHAR, max_size=8)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=25,
    )


JSON_VALUES = _json_values(_DOCUMENT_DEPTH)
DEEP_JSON_VALUES = _json_values(_DEPTH)

# -------------------------------------------------------------------------- expressions

_OPERATORS = ("+", "-", "*", "//", "/", "%", "min", "max", "cdiv")
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_FUNCTION_WORDS = frozenset({"dim", "size", "min", "max", "cdiv"})
# The grammar's function words are also valid bare names; they must survive formatting.
_EXPR_NAMES = st.sampled_from(["x", "tile_m", "n", "_", "dim", "size", "min", "max", "cdiv"]) | (
    _identifiers(6)
)


def _expression_trees() -> st.SearchStrategy[Node]:
    """Trees of every node kind. ``Num`` may be negative anywhere, as trees the exporter builds
    can be, although the parser only makes a negative ``Num`` from a JSON integer."""
    leaves = st.one_of(
        st.builds(Num, st.integers()),
        st.builds(Num, st.floats(allow_nan=False, allow_infinity=False)),
        st.builds(Ref, _EXPR_NAMES),
        st.builds(Dim, _EXPR_NAMES, st.integers(min_value=0)),
        st.builds(Size, _EXPR_NAMES),
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.builds(Neg, inner)
            | st.builds(BinOp, st.sampled_from(_OPERATORS), inner, inner)
            # A comparison's sides are not comparisons: the grammar does not chain them.
            | st.builds(BinOp, st.sampled_from(_COMPARISONS), inner, inner)
        ),
        max_leaves=25,
    )


EXPRESSION_TREES = _expression_trees()


@st.composite
def expressions_with_values(draw: st.DrawFn) -> tuple[Node, dict[Node, int]]:
    """A tree and a value for each of its names; small values so that zero divisors and equal
    operands of min/max come up often."""
    tree = draw(EXPRESSION_TREES)
    leaves = sorted({n for n in walk(tree) if isinstance(n, Ref | Dim | Size)}, key=repr)
    return tree, {leaf: draw(st.integers(-20, 20)) for leaf in leaves}


def pathological_expressions() -> st.SearchStrategy[str]:
    """Inputs sized to hit interpreter limits: recursion depth, and the 4300-digit limit on
    converting a string to an int."""
    return st.one_of(
        _DEPTH.map(lambda n: "(" * n + "x" + ")" * n),
        _DEPTH.map(lambda n: "-" * n + "x"),
        _DEPTH.map(lambda n: "min(x, " * n + "1" + ")" * n),
        _DEPTH.map(lambda n: " + ".join(["x"] * n)),  # parses in a loop, but is a tree n deep
        _DEPTH.map(lambda n: "(" * n),
        st.integers(1, 6000).map(lambda n: "9" * n),
        st.integers(1, 6000).map(lambda n: f"dim(x,{'7' * n})"),
    )


@st.composite
def edited(draw: st.DrawFn, texts: st.SearchStrategy[str]) -> str:
    """A text with one small edit: a character inserted, a range deleted, or a range repeated."""
    text = draw(texts)
    start = draw(st.integers(0, len(text)))
    stop = draw(st.integers(start, len(text)))
    edit = draw(st.sampled_from(["insert", "delete", "repeat"]))
    if edit == "insert":
        return text[:start] + draw(_ANY_CHAR | st.sampled_from("()+-*/,0x ")) + text[start:]
    if edit == "delete":
        return text[:start] + text[stop:]
    return text[:stop] + text[start:]


# Non-ASCII digits, letters and spaces that look like the grammar's tokens.
_LOOKALIKES = "\u0661\u0662\u07c0\U0001d7d9\uff58\u00a0\u3000\u2028\x00"
_formatted = EXPRESSION_TREES.map(lambda tree: str(format_expr(tree)))


EXPRESSION_INPUTS = st.one_of(
    st.text(_ANY_CHAR),
    st.text("0123456789 \txyn_dimszeacv(),+-*/" + _LOOKALIKES),
    edited(_formatted),
    pathological_expressions(),
    JSON_VALUES,
)


# ---------------------------------------------------------------------- near-valid documents


def _pick_op(draw: st.DrawFn, doc: Any) -> tuple[list[Any], int] | None:
    bodies = [body for body in _bodies(doc) if body]
    if not bodies:
        return None
    body = draw(st.sampled_from(bodies))
    return body, draw(st.integers(0, len(body) - 1))


def _drop_op(draw: st.DrawFn, doc: Any) -> Any:
    if picked := _pick_op(draw, doc):
        body, index = picked
        del body[index]
    return doc


def _duplicate_op(draw: st.DrawFn, doc: Any) -> Any:
    if picked := _pick_op(draw, doc):
        body, index = picked
        body.insert(draw(st.integers(0, len(body))), copy.deepcopy(body[index]))
    return doc


def _move_op(draw: st.DrawFn, doc: Any) -> Any:
    if picked := _pick_op(draw, doc):
        body, index = picked
        body.insert(draw(st.integers(0, len(body) - 1)), body.pop(index))
    return doc


def _replace_value(draw: st.DrawFn, doc: Any) -> Any:
    path = draw(st.sampled_from([path for path, _ in _nodes(doc)]))
    return _set(doc, path, draw(JSON_VALUES))


def _delete_key(draw: st.DrawFn, doc: Any) -> Any:
    keyed = [path for path, _ in _nodes(doc) if path and isinstance(path[-1], str)]
    if keyed:
        path = draw(st.sampled_from(keyed))
        del _get(doc, path[:-1])[path[-1]]
    return doc


def _add_key(draw: st.DrawFn, doc: Any) -> Any:
    dicts = [value for _, value in _nodes(doc) if isinstance(value, dict)]
    if dicts:
        target = draw(st.sampled_from(dicts))
        target[draw(st.sampled_from(_FIELD_NAMES) | st.text(_ANY_CHAR, max_size=8))] = draw(
            JSON_VALUES
        )
    return doc


def _rename_some(draw: st.DrawFn, doc: Any) -> Any:
    names = sorted(
        {
            value
            for path, value in _nodes(doc)
            if isinstance(value, str) and _key(path) in ("result", "id")
        }
    )
    if not names:
        return doc
    old = draw(st.sampled_from(names))
    new = draw(st.sampled_from([*names, "", "1x", "a-b", "dim", "inf", "x y"]) | st.text(_ANY_CHAR))
    if draw(st.booleans()):
        _rename(doc, old, new)
        return doc
    # One occurrence only: a use that no longer matches its definition, or the reverse.
    holders = [path for path, value in _nodes(doc) if isinstance(value, str) and old in value]
    path = draw(st.sampled_from(holders))
    return _set(doc, path, _rename_in(_get(doc, path), old, new))


def _corrupt_expression(draw: st.DrawFn, doc: Any) -> Any:
    slots = _expression_slots(doc) or [
        path for path, value in _nodes(doc) if isinstance(value, str)
    ]
    if not slots:
        return doc
    path = draw(st.sampled_from(slots))
    current = st.just(str(_get(doc, path)))
    return _set(doc, path, draw(edited(current) | EXPRESSION_INPUTS))


Mutation = Callable[[st.DrawFn, Any], Any]
_MUTATIONS: tuple[Mutation, ...] = (
    _drop_op,
    _duplicate_op,
    _move_op,
    _replace_value,
    _delete_key,
    _add_key,
    _rename_some,
    _corrupt_expression,
)


@st.composite
def near_valid_documents(draw: st.DrawFn) -> Any:
    """A valid document after one to four random mutations."""
    doc = copy.deepcopy(draw(st.sampled_from(BASE_DOCUMENTS)))
    for _ in range(draw(st.integers(1, 4))):
        doc = draw(st.sampled_from(_MUTATIONS))(draw, doc)
    return doc


# ------------------------------------------------------------------------ broken documents


@dataclass
class Broken:
    """A document and the cross-reference rule that one mutation made it break."""

    reason: str
    doc: Any


@dataclass(frozen=True)
class _Facts:
    """Where a base document's names, expressions and regions are. Breakers start from an
    unmutated base document, so this is worked out once instead of on every example."""

    use_slots: list[DocPath]
    expression_slots: list[DocPath]
    # An arg or op to delete to leave a used name undefined, and that name.
    sole_definitions: list[tuple[DocPath, str]]
    bodies: list[DocPath]
    region_markers: list[DocPath]
    # Slices and hl.store_slice ops: one offset per axis of a tensor of known rank.
    windows: list[DocPath]
    tensor_args: list[tuple[int, str, int]]  # function index, name, rank


def _facts(doc: Any) -> _Facts:
    sole: list[tuple[DocPath, str]] = []
    tensors: list[tuple[int, str, int]] = []
    for f, func in enumerate(doc["module"]["funcs"]):
        at: DocPath = ("module", "funcs", f)
        owners = [((*at, "args", i), [arg["id"]]) for i, arg in enumerate(func["args"])]
        owners += [((*at, "body", i), _results(op)) for i, op in enumerate(func["body"])]
        defined = Counter(name for _, names in owners for name in names)
        uses = [_names_used([op]) for op in func["body"]]
        for path, names in owners:
            others = [u for i, u in enumerate(uses) if path != (*at, "body", i)]
            sole += [(path, n) for n in names if defined[n] == 1 and n in set().union(*others)]
        tensors += [
            (f, arg["id"], len(arg["type"]["tensor"]["shape"]))
            for arg in func["args"]
            if "tensor" in arg["type"]
        ]
    nodes = list(_nodes(doc))
    regions = ("hl.tile.begin", "hl.tile.end", "hl.if.begin", "hl.if.end")
    return _Facts(
        use_slots=_use_slots(doc),
        expression_slots=_expression_slots(doc),
        sole_definitions=sole,
        # Function bodies only: an op appended to a combine function's body is valid.
        bodies=[("module", "funcs", f, "body") for f in range(len(doc["module"]["funcs"]))],
        region_markers=[
            path
            for path, value in nodes
            if isinstance(value, dict) and _key(path) == "body" and value.get("op") in regions
        ],
        windows=[
            path
            for path, value in nodes
            if isinstance(value, dict) and _in_body(path) and value.get("offsets")
        ],
        tensor_args=tensors,
    )


_BASES = tuple((doc, _facts(doc)) for doc in BASE_DOCUMENTS)


def _remove_definition(draw: st.DrawFn, doc: Any, facts: _Facts) -> str:
    path, name = draw(st.sampled_from(facts.sole_definitions))
    del _get(doc, path[:-1])[path[-1]]
    return f"lost the only definition of {name!r}, which is used"


def _undefined_use(draw: st.DrawFn, doc: Any, facts: _Facts) -> str:
    path = draw(st.sampled_from(facts.use_slots))
    _set(doc, path, "never_defined")
    return f"uses an undefined name at {path}"


def _unbalance_region(draw: st.DrawFn, doc: Any, facts: _Facts) -> str:
    path = draw(st.sampled_from(facts.region_markers))
    return f"lost its {_get(doc, path[:-1]).pop(path[-1])['op']}"


def _op_after_return(draw: st.DrawFn, doc: Any, facts: _Facts) -> str:
    body = _get(doc, draw(st.sampled_from(facts.bodies)))
    body.append(copy.deepcopy(draw(st.sampled_from(body))))
    return f"has {body[-1]['op']} after hl.return"


def _dim_out_of_range(draw: st.DrawFn, doc: Any, facts: _Facts) -> str:
    func_index, tensor, rank = draw(st.sampled_from(facts.tensor_args))
    expr = f"dim({tensor},{rank + draw(st.integers(0, 3))})"
    path = draw(st.sampled_from([p for p in facts.expression_slots if p[2] == func_index]))
    _set(doc, path, expr)
    return f"uses {expr} at {path}"


def _unparsable_expression(draw: st.DrawFn, doc: Any, facts: _Facts) -> str:
    path = draw(st.sampled_from(facts.expression_slots))
    current = str(_get(doc, path))
    broken = draw(
        st.sampled_from([f"({current}", f"{current})", f"{current} +", f"{current} ?"])
        | st.sampled_from(["", "?", "dim(x)", "size(1)", "min(1)", "foo(1)", "1 1", "x ** 2"])
    )
    _set(doc, path, broken)
    return f"has the unparsable expression {broken!r} at {path}"


def _slice_rank_mismatch(draw: st.DrawFn, doc: Any, facts: _Facts) -> str:
    path = draw(st.sampled_from(facts.windows))
    offsets = _get(doc, path)["offsets"]
    del offsets[draw(st.integers(0, len(offsets) - 1))]
    return f"has one offset fewer than its tensor's rank at {path}"


_BREAKERS: tuple[Callable[[st.DrawFn, Any, _Facts], str], ...] = (
    _remove_definition,
    _undefined_use,
    _unbalance_region,
    _op_after_return,
    _dim_out_of_range,
    _unparsable_expression,
    _slice_rank_mismatch,
)


def _rename_fresh(draw: st.DrawFn, doc: Any) -> None:
    """Rename one name defined in one function, everywhere in it, to a name not in use."""
    funcs = doc["module"]["funcs"]
    defined = [
        {arg["id"] for arg in func["args"]} | {n for op in func["body"] for n in _results(op)}
        for func in funcs
    ]
    index = draw(st.integers(0, len(funcs) - 1))
    func, names = funcs[index], sorted(defined[index])
    if not names:
        return
    # Identifiers anywhere in the text (keys too: a superset of the names in use), except the
    # grammar's function words where they are not names: `dim(dim,0)` is a valid expression.
    taken = set(_IDENT.findall(json.dumps(doc))) - _FUNCTION_WORDS | set().union(*defined)
    old = draw(st.sampled_from(names))
    new = draw(_EXPR_NAMES)
    # Made fresh rather than filtered, since a filter discards whole examples. "inf" and "nan"
    # are number literals as operands, not names.
    while new in taken or new in _NON_FINITE:
        new += "_"
    _rename(func["args"], old, new)
    _rename(func["body"], old, new)


@st.composite
def broken_documents(draw: st.DrawFn) -> Broken:
    """A valid document after one mutation that breaks a cross-reference rule, then up to two
    consistent renames: they keep every name's relations, so the document stays broken."""
    base, facts = draw(st.sampled_from(_BASES))
    doc = copy.deepcopy(base)
    reason = draw(st.sampled_from(_BREAKERS))(draw, doc, facts)
    for _ in range(draw(st.integers(0, 2))):
        _rename_fresh(draw, doc)
    return Broken(reason, doc)


@st.composite
def renamed_documents(draw: st.DrawFn) -> Any:
    """A valid document after one to three consistent renames to fresh names."""
    doc = copy.deepcopy(draw(st.sampled_from(BASE_DOCUMENTS)))
    for _ in range(draw(st.integers(1, 3))):
        _rename_fresh(draw, doc)
    return doc
