"""``--entry`` and ``--arg``: the kernel and its example arguments, for every CLI.

``python -m helion2json`` (export) and ``python -m helion2json verify`` take the
kernel and its example arguments the same way; both read them through here.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from helion2json.core.errors import ArgumentError

if TYPE_CHECKING:
    from helion2json.core.example_args import ExampleArgs


def add_entry_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--entry`` and ``--arg`` to a command's parser."""
    parser.add_argument(
        "--entry",
        required=True,
        type=_entry_spelling,
        help="the kernel, as module:function or file.py:function",
    )
    parser.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="EXPR",
        help="one example argument (repeat in order; NAME=EXPR passes it by keyword). "
        "torch, helion, hl, DEVICE and the module's globals are in scope",
    )


def _entry_spelling(entry: str) -> str:
    """``--entry`` must name a module (or file) and a function: a usage error otherwise."""
    module_part, sep, attribute = entry.rpartition(":")
    if not sep or not module_part or not attribute:
        raise argparse.ArgumentTypeError(f"{entry!r} must look like module:function")
    return entry


# More spaces per level than anyone reads; a huge indent would only fill memory and disk.
MAX_INDENT = 16


def indent_width(text: str) -> int:
    """An argparse type for ``--indent``: a whole number from 0 to ``MAX_INDENT``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_INDENT:
        raise argparse.ArgumentTypeError(f"{text!r} is not from 0 to {MAX_INDENT}")
    return value


@dataclass(frozen=True)
class Entry:
    """A kernel named by ``--entry``, with its ``--arg`` example arguments."""

    kernel: Any
    # What ``--arg`` (and other expressions given with it) are evaluated in.
    namespace: dict[str, Any]
    example: ExampleArgs


def load_entry_and_arguments(entry: str, arguments: Sequence[str]) -> Entry:
    """Import the ``--entry`` kernel and evaluate the ``--arg`` texts in its module."""
    from helion2json.core.example_args import evaluate_cli_arguments, evaluation_namespace

    module, kernel = load_entry(entry)
    namespace = evaluation_namespace(vars(module))
    return Entry(kernel, namespace, evaluate_cli_arguments(arguments, namespace))


def load_entry(entry: str) -> tuple[ModuleType, Any]:
    """``package.module:function`` or ``path/to/file.py:function``."""
    module_part, sep, attribute = entry.rpartition(":")
    if not sep or not module_part or not attribute:
        raise ArgumentError(f"--entry {entry!r} must look like module:function")
    from helion2json.core.capture.helion_ir import check_helion_version

    # Before the user's module imports helion: an unsupported pair fails there obscurely.
    check_helion_version()
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        path = Path(module_part)
        if not path.exists():
            raise ArgumentError(f"--entry: no such file: {module_part}")
        if not path.is_file():
            # A FIFO or a device would block or never end: only regular files are read.
            raise ArgumentError(f"--entry: {module_part} is not a regular file")
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
