"""``python -m helion2json``: export one kernel from the command line.

    python -m helion2json --entry examples.matmul:matmul \\
        --arg "torch.randn(4, 8)" --arg "torch.randn(8, 4)" --out matmul.helion.json

Exit status: 0 on success, 1 when the kernel does not export, 2 for usage
errors. Failures print one line, ``helion2json: error: FILE:LINE: cause``, and
never a traceback (``--traceback`` shows it for bug reports).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from helion2json.core.entry import (
    add_entry_arguments,
    indent_width,
    load_entry_and_arguments,
)
from helion2json.core.errors import ExportError
from helion2json.core.triton_cpu import enable_interpreter_if_no_gpu

PROG = "helion2json"


def _fail(message: str, status: int = 1) -> NoReturn:
    # One line, whatever the cause: users and CI logs read the first line.
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(status)


def _export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Export a Helion kernel to the helion2json JSON format.",
        epilog=(
            "other commands: 'helion2json verify ...' runs the JSON and compares it with a "
            "reference; 'helion2json mlir ...' lowers it to MLIR; 'helion2json schema' prints "
            "the JSON Schema."
        ),
    )
    add_entry_arguments(parser)
    parser.add_argument("--module-name", default="helion_module", help="the JSON module's name")
    parser.add_argument("--out", help="write here (atomically) instead of standard output")
    parser.add_argument(
        "--indent",
        type=indent_width,
        default=2,
        help="spaces per indent level; 0 writes one compact line",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="a saved Helion config (JSON) to export with, unless the kernel fixes its own",
    )
    parser.add_argument(
        "--no-locations", action="store_true", help="leave out the ops' source locations"
    )
    parser.add_argument(
        "--traceback", action="store_true", help="on failure, also print the Python traceback"
    )
    return parser


def _export(argv: Sequence[str]) -> int:
    options = _export_parser().parse_args(argv)
    try:
        from helion2json.core.export import export_kernel, to_json_text, write_atomically

        # What the kernel's module prints goes to stderr: stdout holds the JSON alone,
        # so `python -m helion2json ... > out.json` always parses.
        with user_output_to_stderr():
            entry = load_entry_and_arguments(options.entry, options.arg)
            payload = export_kernel(
                entry.kernel,
                entry.example.args,
                example_kwargs=entry.example.kwargs,
                module_name=options.module_name,
                locations=not options.no_locations,
                config_file=options.config,
            )
        text = to_json_text(payload, options.indent)
        if options.out:
            write_atomically(options.out, text)
        else:
            sys.stdout.write(text)
    except ExportError as exc:
        if options.traceback:
            import traceback

            traceback.print_exc()
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except Exception as exc:  # user code at import or argument evaluation
        if options.traceback:
            import traceback

            traceback.print_exc()
        _fail(f"{type(exc).__name__}: {exc}")
    return 0


@contextlib.contextmanager
def user_output_to_stderr() -> Iterator[None]:
    """While it lasts, stdout (the Python object and file descriptor 1) is stderr.

    C extensions and ``os.write(1, ...)`` write to the descriptor, so both move.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    previous, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stdout = previous
        os.dup2(saved, 1)
        os.close(saved)


def _schema(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} schema", description="Print the JSON Schema of the format."
    )
    parser.parse_args(argv)
    from helion2json.core.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # Before anything imports helion (and with it triton): verify's CPU reference
    # runs the generated code in Triton's interpreter.
    enable_interpreter_if_no_gpu()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "schema":
        return _schema(arguments[1:])
    if arguments and arguments[0] == "verify":
        from helion2json.core.verify_cli import main as verify_main

        return verify_main(arguments[1:])
    if arguments and arguments[0] == "mlir":
        from helion2json.core.mlir_cli import main as mlir_main

        return mlir_main(arguments[1:])
    return _export(arguments)


if __name__ == "__main__":
    raise SystemExit(main())
