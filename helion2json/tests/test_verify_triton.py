"""verify's CPU reference: the compiled kernel in Triton's interpreter, and what it catches.

The interpreter runs Helion's generated code, so a document that disagrees
with the code fails verification even where Helion's eager reference mode
would share the document's mistake. The corruption test changes one op of
every family's document at a time and checks that verification fails.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from helion2json import export_kernel
from helion2json.core import triton_cpu
from helion2json.core.verify import (
    COMPILED_REFERENCE,
    EAGER_REFERENCE,
    INTERPRETED_REFERENCE,
    ReferenceRun,
    VerifyResult,
    document_reference,
    reference_runs,
    verify_document,
    verify_kernel,
)
from helion2json.tests.kernels import FAMILIES, Family
from helion2json.tests.kernels.linalg import matmul
from helion2json.tests.kernels.reductions import softmax

REPO = Path(__file__).parents[2]

needs_interpreter = pytest.mark.skipif(
    torch.cuda.is_available() or triton_cpu.interpreter_unavailable_reason() is not None,
    reason="needs Triton's interpreter on a machine without CUDA: "
    f"{triton_cpu.interpreter_unavailable_reason()}",
)
needs_triton = pytest.mark.skipif(
    torch.cuda.is_available() or not triton_cpu._triton_installed(),
    reason="needs triton installed, on a machine without CUDA",
)


def describe(result: VerifyResult) -> str:
    lines = [f"status {result.status}: {result.error}", f"reference {result.reference_name}"]
    lines += [f"skipped {s.name}: {s.reason}" for s in result.skipped_references]
    return "\n".join(lines + [str(check) for check in result.outputs])


def python(code: str, **environment: str | None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with ``environment`` changes (None removes)."""
    env = dict(os.environ)
    for name, value in environment.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
        check=False,
    )


# ------------------------------------------------------------------ order and skip reasons


@needs_interpreter
def test_the_interpreter_runs_after_cuda_and_before_eager_mode() -> None:
    torch.manual_seed(0)
    result = verify_kernel(softmax, (torch.randn(6, 10),), reference=lambda x: x)
    assert result.ok, describe(result)
    assert result.reference_name == INTERPRETED_REFERENCE
    assert [(s.name, s.reason) for s in result.skipped_references] == [
        (COMPILED_REFERENCE, "CUDA is not available")
    ]


@needs_interpreter
def test_a_kernel_verifies_against_the_interpreted_kernel() -> None:
    # Edge tiles on every axis, and an inner loop that runs three times.
    torch.manual_seed(0)
    args = (torch.randn(33, 48), torch.randn(48, 17))
    result = verify_kernel(matmul, args, config={"block_sizes": [16, 8, 16]})
    assert result.ok, describe(result)
    assert result.reference_name == INTERPRETED_REFERENCE
    assert [check.label for check in result.outputs] == ["output 0"]


@needs_interpreter
def test_a_failing_interpreter_run_falls_back_to_eager_mode() -> None:
    [family] = [f for f in FAMILIES if f.name == "two_phase"]
    result = verify_kernel(family.kernel, family.make_args())
    assert result.ok, describe(result)
    assert result.reference_name == EAGER_REFERENCE
    interpreted = result.skipped_references[-1]
    assert interpreted.name == INTERPRETED_REFERENCE
    assert interpreted.reason  # the interpreter's own error, on one line


@needs_interpreter
def test_kernels_the_interpreter_computes_wrongly_are_declined() -> None:
    [bf16] = [f for f in FAMILIES if f.name == "matmul_bf16"]
    torch.manual_seed(0)
    result = verify_kernel(bf16.kernel, bf16.make_args(), reference=bf16.reference)
    assert result.ok, describe(result)
    skipped = dict((s.name, s.reason) for s in result.skipped_references)
    assert "bfloat16 tl.dot operands" in skipped[INTERPRETED_REFERENCE]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU references")
def test_skipped_without_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(triton_cpu, "_triton_installed", lambda: False)
    result = verify_kernel(matmul, (torch.randn(4, 8), torch.randn(8, 4)))
    skipped = dict((s.name, s.reason) for s in result.skipped_references)
    assert skipped[INTERPRETED_REFERENCE] == "triton is not installed (pip install triton)"
    assert result.reference_name != INTERPRETED_REFERENCE


FIX = "set TRITON_INTERPRET=1 before importing helion, or run 'python -m helion2json verify'"


@needs_triton
def test_skipped_when_triton_was_imported_without_interpret_mode() -> None:
    run = python(
        "import os, torch, triton\n"
        "os.environ['TRITON_INTERPRET'] = '1'\n"
        "from helion2json.core.verify import verify_kernel\n"
        "from helion2json.tests.kernels.linalg import matmul\n"
        "result = verify_kernel(matmul, (torch.randn(4, 8), torch.randn(8, 4)))\n"
        "for skipped in result.skipped_references: print(skipped.name, '|', skipped.reason)\n",
        TRITON_INTERPRET=None,
    )
    assert run.returncode == 0, run.stderr
    expected = f"{INTERPRETED_REFERENCE} | triton was imported without TRITON_INTERPRET=1: {FIX}"
    assert expected in run.stdout


@needs_triton
def test_the_variable_is_set_before_helion_imports_triton() -> None:
    fresh = python(
        "import os\n"
        "from helion2json.core.triton_cpu import enable_interpreter_if_no_gpu\n"
        "print(enable_interpreter_if_no_gpu(), os.environ.get('TRITON_INTERPRET'))\n"
        "import helion, triton.language as tl\n"
        "print(type(tl.cdiv).__name__)\n",
        TRITON_INTERPRET=None,
        HELION_INTERPRET=None,
    )
    assert fresh.stdout.split() == ["True", "1", "InterpretedFunction"], fresh.stderr


@pytest.mark.parametrize(
    ("environment", "imported", "enabled", "value"),
    [
        ({"TRITON_INTERPRET": "0"}, False, False, "0"),  # the user's choice is kept
        ({"HELION_INTERPRET": "1"}, False, False, None),  # Helion's own mode excludes Triton's
        ({}, True, False, None),  # too late: triton decorated its helpers without it
    ],
    ids=["user-value", "helion-interpret", "triton-imported"],
)
def test_the_variable_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    imported: bool,
    enabled: bool,
    value: str | None,
) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv("HELION_INTERPRET", raising=False)
    for name, setting in environment.items():
        monkeypatch.setenv(name, setting)
    if imported:
        monkeypatch.setitem(sys.modules, "triton", sys.modules.get("triton", os))
    else:
        monkeypatch.delitem(sys.modules, "triton", raising=False)
    assert triton_cpu.enable_interpreter_if_no_gpu() is enabled
    assert os.environ.get("TRITON_INTERPRET") == value


@needs_triton
def test_cli_sets_the_variable_and_says_which_reference_ran() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "helion2json",
            "verify",
            "--entry",
            "examples/softmax.py:softmax_two_pass",
            "--arg",
            "torch.randn(6, 40)",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"},
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(f"reference: {INTERPRETED_REFERENCE}\n"), run.stdout
    assert run.stderr == ""


# ------------------------------------------------------------------ corrupting every op

# Same-signature operators that compute something else.
RENAMES = {
    "torch.add": "torch.sub",
    "torch.sub": "torch.add",
    "torch.mul": "torch.div",
    "torch.div": "torch.mul",
    "torch.maximum": "torch.minimum",
    "torch.amax": "torch.amin",
    "torch.sum": "torch.mean",
    "torch.mean": "torch.sum",
    "torch.exp": "torch.sin",
    "torch.relu": "torch.neg",
    "torch.rsqrt": "torch.sqrt",
    "torch.log": "torch.log2",
    "torch.gt": "torch.lt",
    "torch.lt": "torch.gt",
    "torch.clamp_min": "torch.clamp_max",
    "torch.clamp_max": "torch.clamp_min",
    "hl.cumsum": "hl.cumprod",
    "hl.cumprod": "hl.cumsum",
    "hl.tile.begin_of": "hl.tile.end_of",
    "hl.tile.end_of": "hl.tile.begin_of",
    "hl.atomic_add": "hl.atomic_max",
}
OTHER_DTYPE = {"f32": "f16", "f16": "f32", "bf16": "f32", "f64": "f32", "i32": "i64", "i64": "i32"}
# Fields that name things (or say where an op is) rather than compute.
NAMING_FIELDS = {"op", "overload", "result", "loc", "iters", "params", "results"}

# Changes one op of a body, found at the given index.
Mutation = Callable[[list[dict[str, Any]], int], None]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if not path and key in NAMING_FIELDS:
                continue
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def setting(path: tuple[Any, ...], value: Any) -> Mutation:
    def mutate(body: list[dict[str, Any]], index: int) -> None:
        target: Any = body[index]
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def dropping(body: list[dict[str, Any]], index: int) -> None:
    del body[index]


def corruptions(op: dict[str, Any]) -> Iterator[tuple[str, Mutation]]:
    """Corruptions of one op, the most meaningful first; dropping it comes last."""
    name = op["op"]
    if name in RENAMES:
        yield f"renamed to {RENAMES[name]}", setting(("op",), RENAMES[name])
    args = op.get("args")
    if isinstance(args, list) and len(args) >= 2 and args[-1] != args[-2]:
        yield "last two operands swapped", setting(("args",), [*args[:-2], args[-1], args[-2]])
    for path, value in leaves(op):
        where = ".".join(map(str, path))
        if isinstance(value, bool):
            yield f"{where} negated", setting(path, not value)
        elif isinstance(value, int | float):
            changed = value + 1 if isinstance(value, int) else value * 2 + 1
            yield f"{where} {value} → {changed}", setting(path, changed)
        elif path[-1] in ("dtype", "out_dtype") and value in OTHER_DTYPE:
            yield f"{where} {value} → {OTHER_DTYPE[value]}", setting(path, OTHER_DTYPE[value])
    for path, value in leaves(op):
        if "offsets" not in path or not isinstance(value, str):
            continue
        where = ".".join(map(str, path))
        offsets: Any = op
        for step in path[: path.index("offsets") + 1]:
            offsets = offsets[step]
        for other in dict.fromkeys(o for o in offsets if o != value):
            yield f"{where} {value} → {other}", setting(path, other)
        yield f"{where} {value} → 0", setting(path, 0)
    yield "dropped", dropping


@dataclass(frozen=True)
class OpOutcome:
    index: int
    op: str
    # The first corruption that changes what the document computes, and what
    # verification said about it; None when none does.
    corruption: str | None
    status: str | None
    tried: int


# Documents longer than this (Philox's integer math unrolls into hundreds of ops) have
# an evenly spread sample of their ops corrupted, first and last included, so that one
# family does not take minutes; every shorter document has each of its ops corrupted.
MAX_CORRUPTED_OPS = 48


def sampled(count: int) -> list[int]:
    if count <= MAX_CORRUPTED_OPS:
        return list(range(count))
    step = (count - 1) / (MAX_CORRUPTED_OPS - 1)
    return sorted({round(i * step) for i in range(MAX_CORRUPTED_OPS)})


def corrupt_each_op(
    document: dict[str, Any], args: tuple[Any, ...], reference: ReferenceRun
) -> Iterator[OpOutcome]:
    own = document_reference(document, args)
    body = document["module"]["funcs"][0]["body"]
    for index in sampled(len(body)):
        op = body[index]
        tried = 0
        for text, mutate in corruptions(op):
            tried += 1
            corrupted = copy.deepcopy(document)
            mutate(corrupted["module"]["funcs"][0]["body"], index)
            # A corruption that computes what the document computed is a no-op for this kernel.
            if verify_document(corrupted, args, reference=own).ok:
                continue
            result = verify_document(corrupted, args, reference=reference)
            yield OpOutcome(index, op["op"], text, result.status, tried)
            break
        else:
            yield OpOutcome(index, op["op"], None, None, tried)


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_corrupting_any_op_fails_verification(family: Family) -> None:
    """Each op of the family's document, corrupted alone, makes verification fail.

    An op gets the first of its corruptions that changes what the document
    computes (verifying the corrupted document against the uncorrupted one
    tells); an op that no corruption changes (its result is unused, or it is
    the identity, like ``hl.mask_to``) is printed with the number tried.
    """
    torch.manual_seed(0)
    args = family.make_args()
    document = export_kernel(family.kernel, args, locations=False)
    reference, skipped = reference_runs(
        family.kernel, args, reference=family.reference, document=document
    )
    if reference is None:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in skipped)
        pytest.skip(f"no reference runs on this machine: {reasons}")
    if not verify_document(document, args, reference=reference).ok:
        pytest.skip(f"the uncorrupted document does not match {reference.name}")
    outcomes = list(corrupt_each_op(document, args, reference))
    missed = [o for o in outcomes if o.corruption is not None and o.status == "pass"]
    assert not missed, f"verification against {reference.name} passed corrupted documents: " + (
        "; ".join(f"body[{o.index}] {o.op}: {o.corruption}" for o in missed)
    )
    for o in outcomes:
        if o.corruption is None:
            print(f"{family.name}: body[{o.index}] {o.op}: no corruption of {o.tried} changes it")
    assert any(o.corruption is not None for o in outcomes)


# ------------------------------------------------------------------ what eager mode cannot see


@needs_interpreter
@pytest.mark.parametrize(
    "name",
    [
        "chebyshev_series",
        "fibonacci_pairs",
        "swap_each_step",
        "add_row_bias",
        "add_row_bias_square",
    ],
)
def test_silent_mistakes_are_checked_against_the_generated_code(name: str) -> None:
    # A rotating recurrence and a tile-aligned broadcast once exported schema-valid JSON
    # that computed something else; for the square case Helion's eager mode makes the
    # same mistake, so only the generated code can tell.
    family = next(f for f in FAMILIES if f.name == name)
    torch.manual_seed(0)
    result = verify_kernel(family.kernel, family.make_args())
    assert result.ok, describe(result)
    assert result.reference_name == INTERPRETED_REFERENCE


def test_a_long_document_is_sampled_from_first_to_last_op() -> None:
    assert sampled(10) == list(range(10))
    picks = sampled(500)
    assert len(picks) == MAX_CORRUPTED_OPS and picks[0] == 0 and picks[-1] == 499
