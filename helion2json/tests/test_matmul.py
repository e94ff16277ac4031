"""The contract's matmul example, and the exporter's failure paths."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import helion
import helion.language as hl
import pytest
import torch

from helion2json import (
    ArgumentError,
    NoBindingError,
    UnsupportedError,
    ValidationError,
    dump_kernel_json,
    export_kernel,
    validate_spec,
)

CONTRACT = json.loads((Path(__file__).parent / "data" / "contract_matmul.json").read_text())


@helion.kernel(static_shapes=True)
def matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, k = x.size()
    _, n = y.size()
    out = torch.empty([m, n], dtype=torch.promote_types(x.dtype, y.dtype), device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])
        out[tile_m, tile_n] = acc
    return out


def example() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(4, 8), torch.randn(8, 4)


def test_matmul_matches_the_contract_example_exactly() -> None:
    document = export_kernel(matmul, example(), locations=False)
    # The config is a key added after the contract's example; it reports where
    # the block sizes came from.
    config = document["module"]["funcs"][0].pop("config")
    assert config["source"] == "default"
    assert config["values"]["block_sizes"] == [16, 16, 16]
    assert document == CONTRACT
    # Same text, too: the contract's numbers are floats (1.0), not ints.
    assert json.dumps(document, sort_keys=True) == json.dumps(CONTRACT, sort_keys=True)


def test_locations_are_relative_and_point_at_the_source() -> None:
    document = export_kernel(matmul, example())
    body = document["module"]["funcs"][0]["body"]
    here = Path(__file__)
    lines = here.read_text().splitlines()
    addmm = next(op for op in body if op["op"] == "torch.addmm")
    assert not Path(addmm["loc"]["file"]).is_absolute()
    assert addmm["loc"]["file"].endswith("helion2json/tests/test_matmul.py")
    assert "torch.addmm" in lines[addmm["loc"]["line"] - 1]
    inner_loop = [op for op in body if op["op"] == "hl.tile.begin"][1]
    assert "hl.tile(k)" in lines[inner_loop["loc"]["line"] - 1]


def test_export_is_byte_identical_across_runs() -> None:
    from helion2json.core.export import to_json_text

    first = to_json_text(export_kernel(matmul, example()))
    second = to_json_text(export_kernel(matmul, (torch.ones(4, 8), torch.zeros(8, 4))))
    assert first == second


def test_fp16_inputs_keep_an_fp32_accumulator() -> None:
    args = (torch.randn(64, 32, dtype=torch.float16), torch.randn(32, 16, dtype=torch.float16))
    func = export_kernel(matmul, args, locations=False)["module"]["funcs"][0]
    assert [a["type"]["tensor"]["elem"] for a in func["args"]] == ["f16", "f16"]
    zeros = next(op for op in func["body"] if op["op"] == "hl.zeros")
    assert zeros["dtype"] == "f32"
    assert func["rets"][0]["type"]["tensor"]["elem"] == "f16"


def test_no_tensor_arguments_is_a_clear_error() -> None:
    with pytest.raises(ArgumentError, match="tensor"):
        export_kernel(matmul, (1, 2))


def test_arguments_that_do_not_fit_the_signature() -> None:
    with pytest.raises(ArgumentError, match="signature") as info:
        export_kernel(matmul, (torch.randn(4, 8),))
    assert info.value.kernel == "matmul"
    assert info.value.location is not None


@helion.kernel(static_shapes=True)
def host_math(x: torch.Tensor) -> torch.Tensor:
    doubled = x * 2
    out = torch.empty_like(x)
    for tile in hl.tile(x.size()):
        out[tile] = doubled[tile] + 1
    return out


def test_unsupported_construct_names_the_op_and_the_line() -> None:
    with pytest.raises(UnsupportedError) as info:
        export_kernel(host_math, (torch.randn(8, 8),))
    error = info.value
    assert error.kernel == "host_math"
    assert "doubled" in error.message
    assert error.location is not None
    source_line = Path(__file__).read_text().splitlines()[error.location.line - 1]
    assert "doubled = x * 2" in source_line


def test_invalid_payloads_name_the_field() -> None:
    document = export_kernel(matmul, example(), locations=False)
    validate_spec(document)

    dropped_end = copy.deepcopy(document)
    body = dropped_end["module"]["funcs"][0]["body"]
    body.remove({"op": "hl.tile.end"})
    with pytest.raises(ValidationError, match="never closed"):
        validate_spec(dropped_end)

    bad_rank = copy.deepcopy(document)
    addmm = next(op for op in bad_rank["module"]["funcs"][0]["body"] if op["op"] == "torch.addmm")
    addmm["args"][1]["slice"]["offsets"].append(0)
    with pytest.raises(ValidationError) as info:
        validate_spec(bad_rank)
    assert any("body[4].args[1].slice" in path for path, _ in info.value.errors)

    undefined = copy.deepcopy(document)
    undefined["module"]["funcs"][0]["body"][2]["result"] = "accumulator"
    with pytest.raises(ValidationError, match="'acc' is used before it is defined"):
        validate_spec(undefined)

    bad_expr = copy.deepcopy(document)
    bad_expr["module"]["funcs"][0]["body"][0]["shape"][0] = "dim(x,0"
    with pytest.raises(ValidationError, match="invalid expression"):
        validate_spec(bad_expr)

    bad_dtype = copy.deepcopy(document)
    bad_dtype["module"]["funcs"][0]["body"][0]["dtype"] = "float32"
    with pytest.raises(ValidationError, match=r"body\[0\]\.dtype"):
        validate_spec(bad_dtype)

    unknown_op = copy.deepcopy(document)
    unknown_op["module"]["funcs"][0]["body"].insert(1, {"op": "hl.frobnicate"})
    with pytest.raises(ValidationError, match="unknown op"):
        validate_spec(unknown_op)

    lengths = copy.deepcopy(document)
    lengths["module"]["funcs"][0]["body"][1]["sizes"] = [4]
    with pytest.raises(ValidationError, match="equal lengths"):
        validate_spec(lengths)

    for not_a_document in (None, [], "text", {"version": 2}):
        with pytest.raises(ValidationError):
            validate_spec(not_a_document)


def test_dump_without_arguments_reuses_the_most_recent_binding(tmp_path: Path) -> None:
    matmul.bind(example())
    path = tmp_path / "matmul.helion.json"
    document = dump_kernel_json(matmul, path)
    assert json.loads(path.read_text()) == document
    assert document["module"]["funcs"][0]["name"] == "matmul"


def test_dump_without_arguments_or_binding_says_so(tmp_path: Path) -> None:
    @helion.kernel(static_shapes=True)
    def never_bound(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size()):
            out[tile] = x[tile]
        return out

    path = tmp_path / "never.helion.json"
    with pytest.raises(NoBindingError, match="example_args"):
        dump_kernel_json(never_bound, path)
    assert not path.exists()


def test_failed_dump_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "host_math.helion.json"
    with pytest.raises(UnsupportedError):
        dump_kernel_json(host_math, path, (torch.randn(8, 8),))
    assert list(tmp_path.iterdir()) == []
