"""``python -m helion2json``: export one kernel from the command line.

    python -m helion2json --entry examples.matmul:matmul \\
        --arg "torch.randn(4, 8)" --arg "torch.randn(8, 4)" --out matmul.helion.json

Exit status: 0 on success, 1 when the kernel does not export, 2 for usage
errors. Failures print one line, ``helion2json: error: FILE:LINE: cause``, and
never a traceback (``--traceback`` shows it for bug reports).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from helion2json.core.errors import ArgumentError, ExportError

PROG = "helion2json"


def _fail(message: str, status: int = 1) -> NoReturn:
    # One line, whatever the cause: users and CI logs read the first line.
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(status)


def load_entry(entry: str) -> tuple[ModuleType, Any]:
    """``package.module:function`` or ``path/to/file.py:function``."""
    module_part, sep, attribute = entry.rpartition(":")
    if not sep or not module_part or not attribute:
        raise ArgumentError(f"--entry {entry!r} must look like module:function")
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        path = Path(module_part)
        if not path.is_file():
            raise ArgumentError(f"--entry: no such file: {module_part}")
        module = _import_file(path)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise ArgumentError(f"--entry: cannot import {module_part!r}: {exc}") from None
    try:
        kernel = getattr(module, attribute)
    except AttributeError:
        raise ArgumentError(f"--entry: module {module_part!r} has no {attribute!r}") from None
    return module, kernel


def _import_file(path: Path) -> ModuleType:
    resolved = path.resolve()
    # Sibling imports in the kernel's file resolve against its folder.
    sys.path.insert(0, str(resolved.parent))
    spec = importlib.util.spec_from_file_location(resolved.stem, resolved)
    if spec is None or spec.loader is None:
        raise ArgumentError(f"--entry: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[resolved.stem] = module
    spec.loader.exec_module(module)
    return module


def _export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Export a Helion kernel to the helion2json JSON format.",
        epilog=(
            "other commands: 'helion2json verify ...' runs the JSON and compares it with a "
            "reference; 'helion2json schema' prints the JSON Schema."
        ),
    )
    parser.add_argument(
        "--entry", required=True, help="the kernel, as module:function or file.py:function"
    )
    parser.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="EXPR",
        help="one example argument (repeat in order; NAME=EXPR passes it by keyword). "
        "torch, helion, hl, DEVICE and the module's globals are in scope",
    )
    parser.add_argument("--module-name", default="helion_module", help="the JSON module's name")
    parser.add_argument("--out", help="write here (atomically) instead of standard output")
    parser.add_argument(
        "--indent", type=int, default=2, help="spaces per indent level; 0 writes one compact line"
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
        from helion2json.core.example_args import evaluate_cli_arguments, evaluation_namespace
        from helion2json.core.export import export_kernel, to_json_text, write_atomically

        module, kernel = load_entry(options.entry)
        example = evaluate_cli_arguments(options.arg, evaluation_namespace(vars(module)))
        payload = export_kernel(
            kernel,
            example.args,
            example_kwargs=example.kwargs,
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


def _schema(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} schema", description="Print the JSON Schema of the format."
    )
    parser.parse_args(argv)
    from helion2json.core.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "schema":
        return _schema(arguments[1:])
    if arguments and arguments[0] == "verify":
        from helion2json.core.verify_cli import main as verify_main

        return verify_main(arguments[1:])
    return _export(arguments)


if __name__ == "__main__":
    raise SystemExit(main())
