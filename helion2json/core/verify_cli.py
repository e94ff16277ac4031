"""``python -m helion2json verify``: export a kernel, run its JSON, compare with a reference.

    python -m helion2json verify --entry examples/matmul.py:matmul \\
        --arg "torch.randn(4, 8)" --arg "torch.randn(8, 4)" --ref torch.matmul

Prints the reference used (and why the preferred ones were skipped), one line
per compared output, and a verdict. Exit status: 0 when every output matches,
1 on a mismatch, when the document cannot run, when no reference could run or
when the kernel does not export; 2 for usage errors (bad options, an
``--entry``, ``--arg`` or ``--ref`` that does not evaluate, arguments that do
not fit the kernel). Failures print one line on stderr, never a traceback
(``--traceback`` shows it for bug reports).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from helion2json.core.entry import add_entry_arguments, load_entry_and_arguments
from helion2json.core.errors import ArgumentError, ExportError

if TYPE_CHECKING:
    from helion2json.core.example_args import ExampleArgs
    from helion2json.core.verify import Reference, VerifyResult

PROG = "helion2json verify"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints its usage block; one line is what the rest of the CLI prints.
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Export a Helion kernel, execute the JSON with the reference interpreter and "
        "compare its outputs with the compiled kernel (CUDA, else Triton's interpreter on CPU), "
        "Helion's eager reference mode, or a user reference, the first of these that runs.",
    )
    add_entry_arguments(parser)
    parser.add_argument(
        "--ref",
        metavar="EXPR",
        help="a callable computing the kernel's outputs from the same arguments "
        "(e.g. torch.matmul), evaluated like --arg; used when the compiled kernel and "
        "the eager reference mode cannot run",
    )
    parser.add_argument(
        "--mlir",
        action="store_true",
        help="also lower the JSON to MLIR, run it with mlir-opt and mlir-runner on the same "
        "arguments and compare with the interpreter (docs/mlir.md)",
    )
    parser.add_argument("--atol", type=float, help="absolute tolerance for every output")
    parser.add_argument("--rtol", type=float, help="relative tolerance for every output")
    parser.add_argument(
        "--traceback", action="store_true", help="on failure, also print the Python traceback"
    )
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)


def _tolerances(atol: float, rtol: float) -> str:
    if atol == 0 and rtol == 0:
        return "(exact)"
    return f"(atol {atol:.0e}, rtol {rtol:.0e})"


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if any(a in ("-h", "--help") for a in arguments):
        parser.print_help()
        return 0
    try:
        options = parser.parse_args(arguments)
    except _UsageError as exc:
        _error(str(exc))
        return 2
    try:
        kernel, example, reference = _load(options)
    except ArgumentError as exc:
        return _fail(options, exc, str(exc), 2)
    except Exception as exc:  # user code at import or argument evaluation
        return _fail(options, exc, f"{type(exc).__name__}: {exc}", 2)
    from helion2json.core.verify import verify_kernel

    try:
        result = verify_kernel(
            kernel,
            example.args,
            example.kwargs,
            reference=reference,
            atol=options.atol,
            rtol=options.rtol,
        )
    except ArgumentError as exc:  # the arguments do not fit the kernel's signature
        return _fail(options, exc, str(exc), 2)
    except ExportError as exc:
        return _fail(options, exc, str(exc), 1)
    except Exception as exc:
        return _fail(options, exc, f"{type(exc).__name__}: {exc}", 1)
    status = _report(result)
    if options.mlir and result.document is not None:
        return max(status, _check_mlir(options, kernel, example, result.document))
    return status


def _check_mlir(
    options: argparse.Namespace, kernel: Any, example: ExampleArgs, document: dict[str, Any]
) -> int:
    """Run the document through MLIR; a failure names the op, the tool or the pass."""
    from helion2json.mlir import LoweringError, ToolError, check_with_mlir

    try:
        args = tuple(kernel.normalize_args(*example.args, **dict(example.kwargs)))
        check = check_with_mlir(document, args)
    except LoweringError as exc:
        return _fail(options, exc, f"mlir: not lowered: {exc}", 1)
    except ToolError as exc:
        return _fail(options, exc, f"mlir: {exc}", 1)
    except Exception as exc:
        return _fail(options, exc, f"mlir: {type(exc).__name__}: {exc}", 1)
    if not check.ok:
        _error(f"mlir: {'; '.join(check.mismatches)}")
        return 1
    count = len(check.outputs)
    print(f"mlir: {count} of {count} outputs match the interpreter (mlir-opt + mlir-runner)")
    return 0


def _fail(options: argparse.Namespace, exc: BaseException, message: str, status: int) -> int:
    if options.traceback:
        import traceback

        traceback.print_exception(exc)
    _error(message)
    return status


def _load(options: argparse.Namespace) -> tuple[Any, ExampleArgs, Reference | None]:
    """The kernel, its example arguments and the ``--ref`` reference, from the options."""
    from helion2json.core.verify import evaluate_reference

    entry = load_entry_and_arguments(options.entry, options.arg)
    reference = (
        evaluate_reference(options.ref, entry.namespace) if options.ref is not None else None
    )
    return entry.kernel, entry.example, reference


def _report(result: VerifyResult) -> int:
    if result.reference_name is not None:
        print(f"reference: {result.reference_name}")
    for skipped in result.skipped_references:
        print(f"skipped {skipped.name}: {skipped.reason}")
    for check in result.outputs:
        verdict = "ok" if check.ok else "MISMATCH"
        if check.message is not None:
            print(f"{check.label}: {verdict}  {check.message}")
            continue
        print(
            f"{check.label}: {verdict}  max abs {check.max_abs_error:.1e}  "
            f"max rel {check.max_rel_error:.1e}  {_tolerances(check.atol, check.rtol)}"
        )
    if result.ok:
        print(f"{result.kernel}: the JSON matches the reference")
        return 0
    if result.status == "mismatch":
        failed = [check.label for check in result.outputs if not check.ok]
        cause = result.error or f"{', '.join(failed)} do not match the reference"
        _error(f"kernel '{result.kernel}': {cause}")
    else:
        _error(f"kernel '{result.kernel}': {result.error or result.status}")
    return 1
