"""Run MLIR's own tools on lowered text: ``mlir-opt`` with the pipeline, then ``mlir-runner``.

The tools are found on ``PATH`` or in LLVM 22's install directory (Debian's
``mlir-22-tools`` puts them in ``/usr/lib/llvm-22/bin``, off ``PATH``). A
failure names the tool, and for ``mlir-opt`` the pass that failed, with the
tool's trimmed stderr: users see what MLIR said, never a Python traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PIPELINE",
    "ToolError",
    "Tools",
    "find_tools",
    "lower_to_llvm",
    "run_main",
]

LLVM_PREFIX = Path("/usr/lib/llvm-22")
RUNNER_LIBRARIES = ("mlir_runner_utils", "mlir_c_runner_utils")

# The passes, in order, that take the lowering's func/arith/math/scf/tensor/linalg/
# bufferization/memref text to the LLVM dialect. One-shot bufferization turns device
# tensors into buffers (function boundaries included: kernels take and return memrefs);
# linalg ops become loops; canonicalization and CSE then shrink the element-by-element
# code (before bufferization they would inline every tensor.generate into its readers,
# duplicating whole chains of ops); the rest is the standard conversion to LLVM.
PIPELINE = (
    "one-shot-bufferize{bufferize-function-boundaries allow-return-allocs-from-loops}",
    "func.func(convert-linalg-to-loops)",
    "canonicalize",
    "cse",
    "expand-strided-metadata",
    "lower-affine",
    "convert-scf-to-cf",
    "convert-math-to-llvm",
    "convert-math-to-libm",
    "finalize-memref-to-llvm",
    "convert-arith-to-llvm",
    "convert-cf-to-llvm",
    "convert-func-to-llvm",
    "convert-index-to-llvm",
    "reconcile-unrealized-casts",
)

# Diagnostics longer than this are cut: the first lines say what failed.
_STDERR_LINES = 12
_STDERR_WIDTH = 2000


class ToolError(Exception):
    """An MLIR tool is missing or failed; ``tool`` names it, ``stage`` the pass when known."""

    def __init__(self, tool: str, message: str, stage: str | None = None) -> None:
        self.tool = tool
        self.stage = stage
        where = f"{tool} ({stage})" if stage else tool
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Tools:
    opt: Path
    runner: Path
    libraries: tuple[Path, ...]


def _find(name: str, search_path: str | None) -> Path | None:
    found = shutil.which(name, path=search_path)
    if found:
        return Path(found)
    fallback = LLVM_PREFIX / "bin" / name
    return fallback if fallback.is_file() and os.access(fallback, os.X_OK) else None


def _library(name: str, tool: Path) -> Path | None:
    # Next to the tool's own LLVM install first, then LLVM 22's; Debian ships only the
    # versioned file name.
    for directory in (tool.resolve().parent.parent / "lib", LLVM_PREFIX / "lib"):
        for candidate in sorted(directory.glob(f"lib{name}.so*")):
            return candidate
    return None


def find_tools(search_path: str | None = None) -> Tools:
    """``mlir-opt``, ``mlir-runner`` and the runner's libraries, or a ``ToolError`` saying how to
    install them. ``search_path`` replaces ``PATH`` (tests use it)."""
    opt = _find("mlir-opt", search_path)
    runner = _find("mlir-runner", search_path)
    for name, path in (("mlir-opt", opt), ("mlir-runner", runner)):
        if path is None:
            raise ToolError(
                name,
                f"not found on PATH nor in {LLVM_PREFIX / 'bin'}; install MLIR 22's tools "
                "(Debian/Ubuntu: apt-get install mlir-22-tools)",
            )
    assert opt is not None and runner is not None
    libraries = []
    for name in RUNNER_LIBRARIES:
        library = _library(name, runner)
        if library is None:
            raise ToolError(
                "mlir-runner",
                f"its library lib{name}.so is not installed (apt-get install mlir-22-tools)",
            )
        libraries.append(library)
    return Tools(opt, runner, tuple(libraries))


def _trimmed(stderr: str) -> str:
    lines = [line.rstrip() for line in stderr.strip().splitlines() if line.strip()]
    text = "\n".join(lines[:_STDERR_LINES])
    if len(lines) > _STDERR_LINES:
        text += f"\n... ({len(lines) - _STDERR_LINES} more lines)"
    return text[:_STDERR_WIDTH]


def _run(
    tool: str, command: list[str], text: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command, input=text, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ToolError(tool, f"did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise ToolError(tool, f"cannot run {command[0]}: {exc.strerror or exc}") from None


def _opt(tools: Tools, passes: str, text: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return _run(
        "mlir-opt",
        [str(tools.opt), f"--pass-pipeline=builtin.module({passes})", "-"],
        text,
        timeout,
    )


def lower_to_llvm(tools: Tools, text: str, timeout: float = 120.0) -> str:
    """Run the pipeline on ``text``; a ``ToolError`` names the stage that failed.

    The whole pipeline runs in one process; when it fails, the input is verified alone
    (stage "parse and verify": the lowering wrote invalid MLIR) and then the passes run
    one at a time until one fails, so the error names that pass.
    """
    done = _opt(tools, ",".join(PIPELINE), text, timeout)
    if done.returncode == 0:
        return done.stdout
    checked = _run("mlir-opt", [str(tools.opt), "-"], text, timeout)
    if checked.returncode != 0:
        raise ToolError("mlir-opt", _trimmed(checked.stderr), stage="parse and verify")
    current = checked.stdout
    for step in PIPELINE:
        done = _opt(tools, step, current, timeout)
        if done.returncode != 0:
            raise ToolError("mlir-opt", _trimmed(done.stderr), stage=step)
        current = done.stdout
    raise ToolError("mlir-opt", _trimmed(done.stderr), stage="pipeline")


def run_main(tools: Tools, llvm_text: str, timeout: float = 600.0) -> str:
    """JIT-run ``@main`` of LLVM-dialect text with ``mlir-runner``; its standard output."""
    with tempfile.NamedTemporaryFile("w", suffix=".mlir", delete=False) as handle:
        handle.write(llvm_text)
        path = handle.name
    try:
        done = _run(
            "mlir-runner",
            [
                str(tools.runner),
                path,
                "-e",
                "main",
                "-entry-point-result=void",
                # The module is run once: optimising it would cost more than it saves.
                "-O0",
                f"-shared-libs={','.join(str(lib) for lib in tools.libraries)}",
            ],
            "",
            timeout,
        )
    finally:
        os.unlink(path)
    if done.returncode != 0:
        detail = _trimmed(done.stderr) or f"exit status {done.returncode}"
        raise ToolError("mlir-runner", detail)
    return done.stdout
