"""verify: every family's JSON reproduces its kernel, and the check can fail."""

from __future__ import annotations

import contextlib
import copy
import math
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helion
import helion.language as hl
import pytest
import torch

from helion2json import ArgumentError, export_kernel
from helion2json.core import verify
from helion2json.core.example_args import evaluation_namespace
from helion2json.core.precision import lowest_precisions
from helion2json.core.triton_cpu import interpreter_unavailable_reason
from helion2json.core.verify import (
    COMPILED_REFERENCE,
    EAGER_REFERENCE,
    INTERPRETED_REFERENCE,
    ReferenceRun,
    VerifyResult,
    compare_tensors,
    evaluate_reference,
    reference_runs,
    tolerance,
    verify_document,
    verify_kernel,
)
from helion2json.tests.kernels import FAMILIES, Family
from helion2json.tests.kernels.linalg import matmul

REPO = Path(__file__).parents[2]


def describe(result: VerifyResult) -> str:
    lines = [f"status {result.status}: {result.error}", f"reference {result.reference_name}"]
    lines += [f"skipped {s.name}: {s.reason}" for s in result.skipped_references]
    lines += [str(check) for check in result.outputs]
    return "\n".join(lines)


# ------------------------------------------------------------------ every family


# Families whose compiled kernel (helion 1.5, on CUDA and in Triton's interpreter) disagrees with
# Helion's own eager reference mode and with PyTorch, so the document is right and the compiled
# reference is not.
KNOWN_COMPILED_BUGS = {
    "reverse_cumprod_rows": "the compiled reverse scan folds the padding of a row whose "
    "length (10) is not a power of two, giving zeros",
}


# The references that run the compiled kernel itself.
KERNEL_REFERENCES = (COMPILED_REFERENCE, INTERPRETED_REFERENCE)


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_family_json_reproduces_the_kernel(family: Family) -> None:
    torch.manual_seed(0)
    result = verify_kernel(family.kernel, family.make_args(), reference=family.reference)
    bug = KNOWN_COMPILED_BUGS.get(family.name)
    if bug and result.reference_name in KERNEL_REFERENCES and result.status == "mismatch":
        pytest.xfail(f"compiled-kernel bug: {bug}")
    assert result.ok, describe(result)
    assert result.outputs and all(check.ok for check in result.outputs)


# ------------------------------------------------------------------ the check can fail


def matmul_case() -> tuple[dict[str, Any], tuple[torch.Tensor, ...], ReferenceRun]:
    # k = 64 with blocks of 16: the inner loop runs four times.
    torch.manual_seed(0)
    args = (torch.randn(32, 64), torch.randn(64, 48))
    document = export_kernel(matmul, args)
    return document, args, ReferenceRun("torch.matmul", [args[0] @ args[1]])


def body_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = document["module"]["funcs"][0]["body"]
    return body


def op_named(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(op for op in body_of(document) if op["op"] == name)


def drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda document: body_of(document).remove(op_named(document, name))


def x_slice(document: dict[str, Any]) -> dict[str, Any]:
    slice_spec: dict[str, Any] = op_named(document, "torch.addmm")["args"][1]["slice"]
    return slice_spec


def inner_loop(document: dict[str, Any]) -> dict[str, Any]:
    return [op for op in body_of(document) if op["op"] == "hl.tile.begin"][1]


CORRUPTIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "dropped-addmm": drop("torch.addmm"),
    "dropped-store": drop("hl.store_slice"),
    "wrong-slice-offset": lambda d: x_slice(d)["offsets"].__setitem__(1, 0),
    "wrong-store-offset": lambda d: op_named(d, "hl.store_slice")["offsets"].__setitem__(0, 0),
    "wrong-alpha": lambda d: op_named(d, "torch.addmm")["attrs"].update(alpha=2.0),
    "wrong-beta": lambda d: op_named(d, "torch.addmm")["attrs"].update(beta=0.0),
    "wrong-loop-end": lambda d: inner_loop(d)["end"].__setitem__(0, "dim(x,1) - 16"),
    "wrong-fill": lambda d: op_named(d, "hl.zeros").update(op="hl.full", value=1.0),
    "wrong-alloc-dtype": lambda d: op_named(d, "hl.alloc").update(dtype="f16"),
    "unknown-op": lambda d: op_named(d, "torch.addmm").update(op="torch.frobnicate"),
}


def test_the_uncorrupted_document_passes() -> None:
    document, args, reference = matmul_case()
    result = verify_document(document, args, reference=reference)
    assert result.ok, describe(result)
    assert [c.label for c in result.outputs] == ["output 0"]


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupted_document_fails(corruption: str) -> None:
    document, args, reference = matmul_case()
    CORRUPTIONS[corruption](document)
    result = verify_document(document, args, reference=reference)
    assert not result.ok
    assert result.status in ("mismatch", "error"), describe(result)
    if result.status == "mismatch":
        assert any(not check.ok for check in result.outputs)
    else:
        assert result.error


def test_block_sizes_do_not_change_the_result() -> None:
    # Tiling is not semantics: other block sizes (edge tiles included) give the same result.
    document, args, reference = matmul_case()
    outer, inner = [op for op in body_of(document) if op["op"] == "hl.tile.begin"]
    outer["sizes"], inner["sizes"] = [5, 7], [9]
    result = verify_document(document, args, reference=reference)
    assert result.ok, describe(result)


def test_a_mismatch_reports_the_errors() -> None:
    document, args, reference = matmul_case()
    op_named(document, "torch.addmm")["attrs"]["alpha"] = 1.001
    (check,) = verify_document(document, args, reference=reference).outputs
    assert not check.ok
    assert 0 < check.max_abs_error < math.inf
    assert 0 < check.max_rel_error < math.inf
    assert (check.atol, check.rtol, check.dtype) == (1e-4, 1e-4, "f32")


def test_wrong_number_of_outputs_is_a_mismatch() -> None:
    document, args, reference = matmul_case()
    doubled = ReferenceRun("twice", reference.outputs * 2)
    result = verify_document(document, args, reference=doubled)
    assert result.status == "mismatch"
    assert result.error is not None and "returns 1 tensors, the reference 2" in result.error


# ------------------------------------------------------------------ references


@helion.kernel(static_shapes=True)
def softmax(x: torch.Tensor) -> torch.Tensor:
    n, _m = x.size()
    out = torch.empty_like(x)
    for tile_n in hl.tile(n):
        values = x[tile_n, :]
        amax = torch.amax(values, dim=1, keepdim=True)
        exp = torch.exp(values - amax)
        out[tile_n, :] = exp / torch.sum(exp, dim=1, keepdim=True)
    return out


@helion.kernel(static_shapes=True)
def add_one_in_place(x: torch.Tensor) -> None:
    for tile in hl.tile(x.size(0)):
        x[tile] = x[tile] + 1


no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallbacks")


@pytest.fixture
def no_interpreter(monkeypatch: pytest.MonkeyPatch) -> str:
    """Turn the Triton-interpreter reference off (here and in subprocesses); returns its
    skip reason, so a test can check the references after it."""
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    reason = interpreter_unavailable_reason()
    assert reason is not None
    return reason


@no_cuda
def test_eager_reference_mode_is_preferred_to_a_user_reference(no_interpreter: str) -> None:
    x = torch.randn(6, 33)
    # A wrong user reference is never consulted when the eager reference mode runs.
    result = verify_kernel(softmax, (x,), reference=lambda x: x)
    assert result.ok, describe(result)
    assert result.reference_name == EAGER_REFERENCE
    assert [(s.name, s.reason) for s in result.skipped_references] == [
        (COMPILED_REFERENCE, "CUDA is not available"),
        (INTERPRETED_REFERENCE, no_interpreter),
    ]


@pytest.fixture
def eager_lacks_cpu_products(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eager mode as PyTorch has it: no CPU kernel for the out-dtype products matmul reaches."""
    monkeypatch.setattr(verify, "out_dtype_products_on_cpu", contextlib.nullcontext)


@no_cuda
@pytest.mark.usefixtures("no_interpreter")
def test_eager_mode_runs_out_dtype_products_on_cpu() -> None:
    torch.manual_seed(0)
    args = (torch.randn(4, 8), torch.randn(8, 4))
    result = verify_kernel(matmul, args, reference=lambda x, y: x @ y + 1)
    assert result.ok, describe(result)
    assert result.reference_name == EAGER_REFERENCE
    # Only while the reference runs.
    with pytest.raises(NotImplementedError, match=r"mm\.dtype"):
        torch.ops.aten.mm.dtype(*args, torch.float32)


@no_cuda
@pytest.mark.usefixtures("eager_lacks_cpu_products")
def test_without_a_runnable_reference_verification_does_not_pass(no_interpreter: str) -> None:
    result = verify_kernel(matmul, (torch.randn(4, 8), torch.randn(8, 4)))
    assert result.status == "no-reference"
    assert not result.ok
    assert result.reference_name is None
    names = [s.name for s in result.skipped_references]
    assert names == [COMPILED_REFERENCE, INTERPRETED_REFERENCE, EAGER_REFERENCE, "user reference"]
    assert result.error is not None and "no reference could run" in result.error


@no_cuda
@pytest.mark.usefixtures("no_interpreter", "eager_lacks_cpu_products")
def test_a_failing_user_reference_is_reported() -> None:
    def broken(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("reference exploded")

    result = verify_kernel(matmul, (torch.randn(4, 8), torch.randn(8, 4)), reference=broken)
    assert result.status == "no-reference"
    user = result.skipped_references[-1]
    assert user.name.startswith("user reference ") and user.name.endswith("broken")
    assert user.reason == "RuntimeError: reference exploded"


@no_cuda
@pytest.mark.usefixtures("no_interpreter", "eager_lacks_cpu_products")
def test_user_reference_is_named_after_its_source() -> None:
    ref = evaluate_reference("torch.matmul", evaluation_namespace())
    result = verify_kernel(matmul, (torch.randn(4, 8), torch.randn(8, 4)), reference=ref)
    assert result.ok, describe(result)
    assert result.reference_name == "user reference torch.matmul"
    plain = verify_kernel(matmul, (torch.randn(4, 8), torch.randn(8, 4)), reference=torch.matmul)
    assert plain.reference_name == "user reference torch.matmul"


def test_inputs_are_cloned_and_written_arguments_are_compared() -> None:
    x = torch.randn(10)
    original = x.clone()
    result = verify_kernel(add_one_in_place, (x,), reference=lambda x: None)
    assert torch.equal(x, original), "verification must not modify the caller's tensors"
    if result.reference_name in (EAGER_REFERENCE, *KERNEL_REFERENCES):
        assert result.ok, describe(result)
        assert [c.label for c in result.outputs] == ["argument x"]
    else:  # a user reference returning nothing leaves nothing to compare
        assert not result.ok


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_kernel_is_the_first_reference() -> None:
    args = (torch.randn(64, 128, device="cuda"), torch.randn(128, 32, device="cuda"))
    result = verify_kernel(matmul, args, reference=lambda x, y: x)
    assert result.ok, describe(result)
    assert result.reference_name == COMPILED_REFERENCE
    assert result.skipped_references == []


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_reference_on_cpu_examples_runs_on_cuda() -> None:
    # Edge tiles on every axis; the fixed config is the one given.
    args = (torch.randn(33, 64), torch.randn(64, 17))
    result = verify_kernel(matmul, args, config={"block_sizes": [16, 16, 32]})
    assert result.ok, describe(result)
    assert result.reference_name == COMPILED_REFERENCE
    assert result.outputs[0].dtype == "f32"


# ------------------------------------------------------------------ tolerances


def test_tolerances_follow_the_dtype() -> None:
    assert tolerance(torch.float32) == (1e-4, 1e-4)
    assert tolerance(torch.float16) == (1e-2, 1e-2)
    assert tolerance(torch.bfloat16)[0] > tolerance(torch.float16)[0]
    assert tolerance(torch.float8_e4m3fn)[0] >= 0.1
    assert tolerance(torch.int32) == tolerance(torch.bool) == (0.0, 0.0)
    # Long reductions round more: tolerances grow with sqrt(length / 1024).
    assert tolerance(torch.float32, 1024) == (1e-4, 1e-4)
    assert tolerance(torch.float32, 4096) == pytest.approx((2e-4, 2e-4))
    assert tolerance(torch.int64, 1 << 20) == (0.0, 0.0)


def test_compare_tensors() -> None:
    a = torch.tensor([1.0, math.nan, math.inf, 0.0])
    assert compare_tensors(a, a.clone(), 0.0, 0.0) == (True, 0.0, 0.0, None)
    ok, max_abs, max_rel, _ = compare_tensors(a + 1e-3, a, 1e-4, 1e-4)
    assert not ok
    assert max_abs == pytest.approx(1e-3, rel=1e-3) and max_rel == pytest.approx(1e-3, rel=1e-3)
    nan_vs_number = compare_tensors(torch.tensor([math.nan]), torch.tensor([1.0]), 1.0, 1.0)
    assert nan_vs_number[:2] == (False, math.inf)
    assert compare_tensors(torch.ones(2), torch.ones(3), 1, 1)[3] == "shape [2], reference [3]"
    assert compare_tensors(torch.ones(2), torch.ones(2).half(), 1, 1)[3] == (
        "dtype f32, reference f16"
    )
    ints = torch.tensor([1, 2, 3])
    assert not compare_tensors(ints, ints + torch.tensor([0, 0, 1]), 0.0, 0.0)[0]


def test_evaluate_reference() -> None:
    namespace = evaluation_namespace({"offset": 2})
    reference = evaluate_reference("lambda x: x + offset", namespace)
    assert reference.name == "lambda x: x + offset"
    assert reference(torch.ones(1)).item() == 3.0
    with pytest.raises(ArgumentError, match="does not parse"):
        evaluate_reference("lambda x:", namespace)
    with pytest.raises(ArgumentError, match="not a callable"):
        evaluate_reference("3", namespace)
    with pytest.raises(ArgumentError, match="NameError"):
        evaluate_reference("nowhere.fn", namespace)


# ------------------------------------------------------------------ command line


# The command line with eager mode as PyTorch has it (see eager_lacks_cpu_products).
EAGER_LACKS_CPU_PRODUCTS = (
    "import contextlib; from helion2json.core import verify; "
    "verify.out_dtype_products_on_cpu = contextlib.nullcontext; "
    "from helion2json.core.cli import main; raise SystemExit(main())"
)


def cli(*arguments: str, eager_products: bool = True) -> subprocess.CompletedProcess[str]:
    start = ["-m", "helion2json"] if eager_products else ["-c", EAGER_LACKS_CPU_PRODUCTS]
    return subprocess.run(
        [sys.executable, *start, "verify", *arguments],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


MATMUL = ("--entry", "examples/matmul.py:matmul", "--arg", "torch.randn(4, 8)")
MATMUL_ARGS = (*MATMUL, "--arg", "torch.randn(8, 4)")
OUTPUT_LINE = re.compile(
    r"^output 0: ok  max abs \d\.\de[+-]\d\d  max rel \d\.\de[+-]\d\d  "
    r"\(atol 1e-04, rtol 1e-04\)$",
    re.MULTILINE,
)


def test_cli_pass() -> None:
    run = cli(*MATMUL_ARGS, "--ref", "torch.matmul")
    assert run.returncode == 0, run.stderr
    assert OUTPUT_LINE.search(run.stdout), run.stdout
    if torch.cuda.is_available():
        used = COMPILED_REFERENCE
    elif interpreter_unavailable_reason() is None:
        used = INTERPRETED_REFERENCE
    else:
        used = "user reference torch.matmul"
    assert f"reference: {used}\n" in run.stdout
    assert run.stderr == ""


@no_cuda
@pytest.mark.usefixtures("no_interpreter")
def test_cli_mismatch() -> None:
    run = cli(*MATMUL_ARGS, "--ref", "lambda x, y: x @ y + 1", eager_products=False)
    assert run.returncode == 1
    assert "output 0: MISMATCH" in run.stdout
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "output 0 do not match the reference" in run.stderr


@no_cuda
@pytest.mark.usefixtures("no_interpreter")
def test_cli_no_reference() -> None:
    run = cli(*MATMUL_ARGS, eager_products=False)
    assert run.returncode == 1
    assert "skipped compiled kernel (cuda): CUDA is not available" in run.stdout
    assert run.stderr.count("\n") == 1 and "no reference could run" in run.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ("--arg", "torch.randn(4, 8)"),  # no --entry
        (*MATMUL_ARGS, "--ref", "lambda x:"),
        ("--entry", "examples/matmul.py:nope", "--arg", "1"),
        (*MATMUL,),  # one argument too few
        (*MATMUL_ARGS, "--atol", "tight"),
    ],
    ids=["no-entry", "ref-syntax", "no-such-kernel", "signature", "atol"],
)
def test_cli_usage_errors(arguments: tuple[str, ...]) -> None:
    run = cli(*arguments)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.startswith("helion2json verify: error: ")
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_cli_help() -> None:
    run = cli("--help")
    assert run.returncode == 0
    assert "--ref" in run.stdout


def test_document_copy_is_kept_for_inspection() -> None:
    document, args, reference = matmul_case()
    result = verify_document(copy.deepcopy(document), args, reference=reference)
    assert result.document == document


@pytest.mark.parametrize("name", ["dot_out_dtype", "matmul_bf16", "addmm_bias_relu", "bmm"])
def test_eager_mode_is_a_cpu_reference_for_out_dtype_products(name: str) -> None:
    chosen = next(f for f in FAMILIES if f.name == name)
    torch.manual_seed(0)
    args = chosen.make_args()
    document = export_kernel(chosen.kernel, args)
    run, skipped = reference_runs(chosen.kernel, args, only=[EAGER_REFERENCE])
    assert run is not None, skipped
    result = verify_document(document, args, reference=run)
    assert result.ok, describe(result)


def test_tolerance_follows_the_lowest_precision_on_the_path() -> None:
    chosen = next(f for f in FAMILIES if f.name == "half_rounded_row_sums")
    torch.manual_seed(0)
    args = chosen.make_args()
    document = export_kernel(chosen.kernel, args)
    assert lowest_precisions(document["module"]["funcs"][0]) == ["f16"]
    expected = chosen.reference(*args)
    # One f16 rounding step apart from what the document computes: beyond f32's tolerance.
    nudged = expected + expected.abs() * 2.0**-11
    result = verify_document(document, args, reference=ReferenceRun("nudged", [nudged]))
    assert result.ok, describe(result)
    (check,) = result.outputs
    assert (check.atol, check.rtol) == tolerance(torch.float16) and check.dtype == "f32"
    # Without the cast, the output keeps f32's tolerance.
    plain_document, plain_args, reference = matmul_case()
    (plain,) = verify_document(plain_document, plain_args, reference=reference).outputs
    assert (plain.atol, plain.rtol) == tolerance(torch.float32)


def test_the_path_is_followed_through_stores_and_loops() -> None:
    func = {
        "args": [{"id": "x", "type": {"tensor": {"shape": ["?"], "elem": "f32"}}}],
        "body": [
            {"op": "hl.alloc", "shape": [4], "dtype": "bf16", "result": "scratch"},
            {"op": "hl.alloc", "shape": [4], "dtype": "f32", "result": "out"},
            {"op": "hl.alloc", "shape": [4], "dtype": "f32", "result": "exact"},
            {"op": "hl.store_slice", "dst": "exact", "offsets": [0], "src": "x"},
            {"op": "hl.store_slice", "dst": "out", "offsets": [0], "src": "carried"},
            {"op": "hl.assign", "src": "scratch", "result": "carried"},
            {"op": "hl.store_slice", "dst": "scratch", "offsets": [0], "src": "x"},
            {"op": "hl.return", "values": ["out", "exact", "x"]},
        ],
    }
    assert lowest_precisions(func) == ["bf16", "f32", None]


def test_compiled_runs_move_list_items_and_device_arguments() -> None:
    from helion2json.core.verify import _to_device

    items = [torch.ones(2), torch.zeros(3)]
    moved = _to_device((items, torch.device("cpu"), 3), "meta")
    assert [t.device.type for t in moved[0]] == ["meta", "meta"]
    assert moved[1] == torch.device("meta") and moved[2] == 3
    assert type(moved[0]) is list and type(moved) is tuple
