"""``python -m helion2json mlir``: lower a kernel's JSON to MLIR text.

    python -m helion2json mlir --entry examples/matmul.py:matmul \\
        --arg "torch.randn(4, 8)" --arg "torch.randn(8, 4)" -o matmul.mlir
    python -m helion2json mlir matmul.helion.json

From ``--entry``/``--arg`` the kernel is exported first and the module also holds
a ``main`` harness with the example arguments (``--no-harness`` leaves it out);
from a ``.helion.json`` file, only the kernel function. Exit status: 0 on success,
1 when the kernel does not export or an op is not lowered, 2 for usage errors.
Failures print one line, ``helion2json mlir: error: FILE:LINE: op: cause``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from helion2json.core.errors import ExportError

PROG = "helion2json mlir"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _fail(message, 2)


def _fail(message: str, status: int = 1) -> NoReturn:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(status)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Lower a Helion kernel's JSON to upstream MLIR (docs/mlir.md).",
    )
    parser.add_argument("document", nargs="?", help="a .helion.json file (instead of --entry)")
    parser.add_argument("--entry", help="the kernel, as module:function or file.py:function")
    parser.add_argument(
        "--arg", action="append", default=[], metavar="EXPR", help="one example argument"
    )
    parser.add_argument("--func", help="the document's function to lower (when it has several)")
    parser.add_argument(
        "--no-harness",
        action="store_true",
        help="with --entry, leave out the main function that runs the kernel on the arguments",
    )
    parser.add_argument("-o", "--out", help="write here (atomically) instead of standard output")
    parser.add_argument(
        "--traceback", action="store_true", help="on failure, also print the Python traceback"
    )
    return parser


def _from_entry(options: argparse.Namespace) -> tuple[dict[str, Any], tuple[Any, ...]]:
    from helion2json.core.cli import user_output_to_stderr
    from helion2json.core.entry import load_entry_and_arguments
    from helion2json.core.export import export_kernel

    with user_output_to_stderr():
        entry = load_entry_and_arguments(options.entry, options.arg)
        kernel = entry.kernel
        args = tuple(kernel.normalize_args(*entry.example.args, **dict(entry.example.kwargs)))
        return export_kernel(kernel, args), args


def main(argv: Sequence[str]) -> int:
    options = _parser().parse_args(list(argv))
    if (options.document is None) == (options.entry is None):
        _fail("give either a .helion.json file or --entry", 2)
    try:
        from helion2json.core.export import write_atomically
        from helion2json.mlir import LoweringError, harness, lower_document

        try:
            if options.entry is not None:
                document, args = _from_entry(options)
                text = (
                    lower_document(document, func=options.func)
                    if options.no_harness
                    else harness(document, args, func=options.func)
                )
            else:
                from helion2json.sources import read_regular_file

                # A FIFO or /dev/zero named as the document would block or never end.
                try:
                    document = json.loads(read_regular_file(options.document))
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    _fail(f"{options.document}: not JSON: {exc}")
                text = lower_document(document, func=options.func)
        except LoweringError as exc:
            _fail(f"not lowered: {exc}")
        if options.out:
            write_atomically(options.out, text)
        else:
            sys.stdout.write(text)
    except SystemExit:
        raise
    except ExportError as exc:
        _trace(options)
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except Exception as exc:  # user code at import or argument evaluation
        _trace(options)
        _fail(f"{type(exc).__name__}: {exc}")
    return 0


def _trace(options: argparse.Namespace) -> None:
    if options.traceback:
        import traceback

        traceback.print_exc()
