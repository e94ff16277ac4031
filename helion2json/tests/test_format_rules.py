"""The validator's rules for if/else merging, combine functions and symbolic operands;
the checked-in JSON Schema file matches the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helion2json import ValidationError, validate_spec
from helion2json.core.schema import json_schema

SCHEMA_FILE = Path(__file__).parents[1] / "schema" / "helion2json.schema.json"

X = {"id": "x", "type": {"tensor": {"shape": ["?"], "elem": "f32"}}}
FLAG = {"id": "flag", "type": {"scalar": "i1"}}
LOOP = {
    "op": "hl.tile.begin",
    "iters": ["i"],
    "sizes": [4],
    "result": ["tile"],
    "begin": [0],
    "end": ["dim(x,0)"],
    "parallel": True,
}
LOAD = {
    "op": "hl.load",
    "result": "v",
    "slice": {"base": "x", "offsets": ["tile"], "sizes": ["size(tile)"]},
}
STORE_R = {"op": "hl.store_slice", "dst": "x", "offsets": ["tile"], "src": "r"}


def torch_op(name: str, result: str, *args: Any) -> dict[str, Any]:
    return {"op": f"torch.{name}", "overload": "Tensor", "result": result, "args": list(args)}


def document(*body: dict[str, Any]) -> dict[str, Any]:
    func = {
        "name": "k",
        "args": [X, FLAG],
        "rets": [],
        "body": [LOOP, LOAD, *body, {"op": "hl.tile.end"}, {"op": "hl.return", "values": []}],
    }
    return {"version": 1, "module": {"name": "m", "funcs": [func]}}


def test_a_name_both_branches_define_outlives_the_if() -> None:
    validate_spec(
        document(
            {"op": "hl.if.begin", "cond": "flag"},
            torch_op("mul", "r", "v", 2),
            {"op": "hl.if.else"},
            torch_op("sub", "r", "v", 1),
            {"op": "hl.if.end"},
            STORE_R,
        )
    )


@pytest.mark.parametrize("else_branch", [[], [{"op": "hl.if.else"}, torch_op("sub", "s", "v", 1)]])
def test_a_name_one_branch_defines_ends_with_it(else_branch: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationError, match="'r' is used before it is defined"):
        validate_spec(
            document(
                {"op": "hl.if.begin", "cond": "flag"},
                torch_op("mul", "r", "v", 2),
                *else_branch,
                {"op": "hl.if.end"},
                STORE_R,
            )
        )


def scan(combine: dict[str, Any], args: list[Any] | None = None) -> dict[str, Any]:
    return {
        "op": "hl.associative_scan",
        "args": args or ["v"],
        "dim": 0,
        "reverse": False,
        "combine": combine,
        "result": ["r"],
    }


def test_combine_functions_see_only_their_parameters() -> None:
    good = {"params": ["a", "b"], "body": [torch_op("add", "c", "a", "b")], "results": ["c"]}
    validate_spec(document(scan(good), STORE_R))
    outer = {"params": ["a", "b"], "body": [torch_op("add", "c", "a", "v")], "results": ["c"]}
    with pytest.raises(ValidationError) as info:
        validate_spec(document(scan(outer)))
    assert any(
        "combine.body[0].args[1]" in path and "'v'" in message
        for path, message in info.value.errors
    )


def test_combine_functions_take_two_parameters_per_arg() -> None:
    one_param = {"params": ["a"], "body": [], "results": ["a"]}
    with pytest.raises(ValidationError, match="two per arg"):
        validate_spec(document(scan(one_param)))
    hl_op = {
        "params": ["a", "b"],
        "body": [{"op": "hl.load", "result": "c", "slice": LOAD["slice"]}],
        "results": ["c"],
    }
    with pytest.raises(ValidationError, match="torch math only"):
        validate_spec(document(scan(hl_op)))


def test_expression_operands_are_checked() -> None:
    validate_spec(document(torch_op("mul", "r", "v", {"expr": "size(tile) * 2"}), STORE_R))
    with pytest.raises(ValidationError, match="'n' is used before it is defined"):
        validate_spec(document(torch_op("mul", "r", "v", {"expr": "n + 1"}), STORE_R))
    with pytest.raises(ValidationError, match="invalid expression"):
        validate_spec(document(torch_op("mul", "r", "v", {"expr": "size(tile"}), STORE_R))


def test_the_schema_file_matches_the_models() -> None:
    # Regenerate with: python -m helion2json schema > helion2json/schema/helion2json.schema.json
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema()
