"""Property-based tests: validation, source scanning and the expression grammar fail only in the
ways their contracts allow, whatever the input. The properties are in ``property_cases.py``,
the documents and expressions they start from in ``property_documents.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import example, given, settings
from property_cases import (
    _KERNEL_FILE,
    DocPath,
    Signature,
    check_accepted,
    check_args_template,
    check_expr_python_semantics,
    check_expr_round_trip,
    check_parse_expr,
    check_rejected,
    check_scan,
    check_validate_spec,
    signatures,
    source_texts,
    spliced_kernel_files,
)
from property_documents import (
    BASE_DOCUMENTS,
    DEEP_JSON_VALUES,
    EXPRESSION_INPUTS,
    Broken,
    _nest,
    _set,
    broken_documents,
    expressions_with_values,
    near_valid_documents,
    renamed_documents,
)

from h2j_lsp.discovery import scan_source
from helion2json import ValidationError, validate_spec
from helion2json.core.expr import ExprSyntaxError, Node, Num, evaluate, parse_expr

# ------------------------------------------------------------------------------- tests

_FEW = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize("doc", BASE_DOCUMENTS, ids=["contract", "kitchen_sink"])
def test_base_documents_are_valid(doc: dict[str, Any]) -> None:
    # Mutations start from these; an invalid one would make every rejection meaningless.
    validate_spec(doc)


def test_kernel_file_scans_cleanly() -> None:
    # Splices start from this file; it must find both kernels with all their directives.
    result = scan_source(_KERNEL_FILE.replace("{name}", "matmul"))
    assert result.errors == () and result.syntax_error is None
    matmul, add = result.kernels
    assert len(matmul.examples) == 1 and matmul.config is not None and len(matmul.tile_loops) == 2
    assert add.skip and add.ref is not None


@_FEW
@given(DEEP_JSON_VALUES)
def test_validate_spec_arbitrary_json(payload: Any) -> None:
    check_validate_spec(payload)


@_FEW
@given(near_valid_documents())
def test_validate_spec_near_valid_documents(doc: Any) -> None:
    check_validate_spec(doc)


@_FEW
@given(broken_documents())
def test_validate_spec_rejects_broken_cross_references(broken: Broken) -> None:
    check_rejected(broken)


@_FEW
@given(renamed_documents())
def test_validate_spec_accepts_consistent_renames(doc: Any) -> None:
    check_accepted(doc)


@_FEW
@given(expressions_with_values())
# Found by the property: negative zero is written "-0.0" and read back as a negation.
@example(case=(Num(-0.0), {}))
def test_parse_expr_round_trip(case: tuple[Node, dict[Node, int]]) -> None:
    check_expr_round_trip(case)


@given(expressions_with_values())
def test_evaluate_is_python(case: tuple[Node, dict[Node, int]]) -> None:
    check_expr_python_semantics(case)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("-7 // 2", -4),
        ("-7 % 2", 1),
        ("7 % -2", -1),
        ("7 / 2", 3.5),
        ("cdiv(-7, 2)", -3),
        ("1 + 2 * 3 < 8", True),
        ("(1 < 2) == (3 < 4)", True),
        ("x % 4 == 0", True),
        ("0.5 * x", 4.0),
        ("1e-05 * x", 8e-05),
        ("min(x, 3) + max(x, 3)", 11),
    ],
)
def test_expression_semantics_are_pythons(text: str, value: Any) -> None:
    result = evaluate(parse_expr(text), lambda node: 8)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize("text", ["1 < 2 < 3", "1e999", "1.5.2", "x == == y", "x %"])
def test_expression_syntax_errors(text: str) -> None:
    with pytest.raises(ExprSyntaxError):
        parse_expr(text)


@_FEW
@given(EXPRESSION_INPUTS)
def test_parse_expr_arbitrary_input(value: Any) -> None:
    check_parse_expr(value)


@_FEW
@given(source_texts())
def test_scan_source_arbitrary_text(text: str) -> None:
    check_scan(text)


@_FEW
@given(spliced_kernel_files())
def test_scan_source_spliced_kernel_files(text: str) -> None:
    check_scan(text)


@_FEW
@given(signatures())
def test_args_template_round_trip(signature: Signature) -> None:
    check_args_template(signature)


# ------------------------------------------------------------------------ regressions
# Inputs the properties found, kept as plain tests so that they run on every run.


@pytest.mark.parametrize(
    "text",
    [
        # int() refuses more than 4300 digits with ValueError.
        pytest.param("9" * 5000, id="integer-over-4300-digits"),
        pytest.param(f"dim(x,{'7' * 5000})", id="axis-over-4300-digits"),
        # The parser recurses once per level.
        pytest.param("(" * 1000 + "x" + ")" * 1000, id="nested-parentheses"),
        pytest.param("-" * 1000 + "x", id="repeated-negation"),
        # Parses in a loop, but format_expr recurses once per operand.
        pytest.param(" + ".join(["x"] * 1000), id="long-sum"),
        # \d and str.isdigit() accept every Unicode decimal digit.
        pytest.param("\u0661\u0662", id="arabic-indic-digits"),
        pytest.param("dim(x,\u0661)", id="arabic-indic-axis"),
    ],
)
def test_parse_expr_regressions(text: str) -> None:
    check_parse_expr(text)


def _contract_with(path: DocPath, value: Any) -> Any:
    return _set(copy.deepcopy(BASE_DOCUMENTS[0]), path, value)


_MATMUL = ("module", "funcs", 0, "body")


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(_contract_with((*_MATMUL, 0, "shape", 0), "9" * 5000), id="huge-integer"),
        pytest.param(
            _contract_with((*_MATMUL, 0, "shape", 0), "(" * 1000 + "1" + ")" * 1000),
            id="nested-parentheses",
        ),
        # walk() recurses once per operand of the sum.
        pytest.param(
            _contract_with((*_MATMUL, 0, "shape", 0), " + ".join(["1"] * 1000)), id="long-sum"
        ),
        # validate_spec(model) dumps with exclude_none=True, which drops a required null operand.
        pytest.param(_contract_with((*_MATMUL, 6, "src"), None), id="null-operand-as-model"),
        # pydantic serialises at most 254 levels, so validate_spec(model) raises ValueError.
        pytest.param(
            _contract_with((*_MATMUL, 4, "attrs", "deep"), _nest(300)), id="deep-attrs-as-model"
        ),
    ],
)
def test_validate_spec_regressions(doc: Any) -> None:
    check_validate_spec(doc)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param((*_MATMUL, 0, "fill"), id="alloc-fill"),
        pytest.param((*_MATMUL, 4, "args", 0), id="torch-operand"),
    ],
)
def test_validate_spec_rejects_non_finite_numbers(path: DocPath) -> None:
    # As it does in attrs: JSON has no infinities (they travel as "inf"), and the exporter
    # writes with allow_nan=False.
    with pytest.raises(ValidationError):
        validate_spec(_contract_with(path, float("inf")))


@pytest.mark.parametrize("bound", ["min", "max"])
@pytest.mark.parametrize("value", ["(((", "never_defined"])
def test_validate_spec_checks_register_block_size_bounds(bound: str, value: str) -> None:
    doc = copy.deepcopy(BASE_DOCUMENTS[0])
    doc["module"]["funcs"][0]["body"].insert(
        0, {"op": "hl.register_block_size", "result": "block", "size": 16, bound: value}
    )
    check_rejected(Broken(f"has {bound}={value!r} in hl.register_block_size", doc))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("\ufb01le", id="fi-ligature"),
        pytest.param("e\u0301t\u00e9", id="combining-accent"),
        # The span runs past the end of its line.
        pytest.param("\ufb03\\\n", id="ffi-ligature-before-continuation"),
    ],
)
def test_scan_source_name_span_of_normalised_name(name: str) -> None:
    # Python reads `def ﬁle` as `def file`: the span must cover the spelling, not the NFKC name.
    check_scan(_KERNEL_FILE.replace("{name}", name))
