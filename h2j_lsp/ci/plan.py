"""Finding the files under the command line's paths, their kernels, and the exports to run."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from h2j_lsp.ci.model import Job, Plan, Report, Severity, UsageError
from h2j_lsp.discovery import DirectiveError, KernelInfo, Span, scan_source
from h2j_lsp.outputs import output_name, output_path
from helion2json.sources import UnreadableSource, read_source

SKIPPED_DIRECTORIES = frozenset({"__pycache__", ".venv", "venv", "node_modules"})


def display_path(path: Path) -> str:
    """Relative to the current directory when under it (with '/'), else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


def _excluded(path: Path, globs: Sequence[str]) -> bool:
    shown = display_path(path)
    return any(fnmatch.fnmatch(shown, glob) or fnmatch.fnmatch(path.name, glob) for glob in globs)


def _skipped_directory(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_DIRECTORIES


def find_sources(paths: Iterable[str], excludes: Sequence[str]) -> list[Path]:
    """The .py files under ``paths``; a file named on the command line is taken as it is."""
    found: dict[str, Path] = {}
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            raise UsageError(f"no such file or directory: {raw}")
        if not root.is_dir():  # a file, or something special that reading will refuse
            if not _excluded(root, excludes):
                found.setdefault(os.path.realpath(root), root)
            continue
        for folder, directories, files in os.walk(root):
            here = Path(folder)
            directories[:] = sorted(
                name
                for name in directories
                if not _skipped_directory(name) and not _excluded(here / name, excludes)
            )
            for name in sorted(files):
                candidate = here / name
                if name.endswith(".py") and not _excluded(candidate, excludes):
                    found.setdefault(os.path.realpath(candidate), candidate)
    return sorted(found.values(), key=display_path)


def plan_exports(sources: Sequence[Path], out_dir: Path) -> Plan:
    plan = Plan()
    owners: dict[Path, Job] = {}
    for source in sources:
        display = display_path(source)
        try:
            text = read_source(source)
        except UnreadableSource as exc:
            plan.reports.append(
                Report("error", "read-error", f"cannot read: {exc.reason}", display)
            )
            continue
        scan = scan_source(text)
        if scan.syntax_error is not None:
            plan.reports.append(_directive_report(scan.syntax_error, display))
        plan.reports.extend(_directive_report(error, display) for error in scan.errors)
        error_lines = {error.span.start_line for error in scan.errors}
        for kernel in scan.kernels:
            if not kernel.examples and _comment_block(text, kernel) & error_lines:
                continue  # its broken args(...) directive is reported already
            _plan_kernel(plan, owners, source, display, text, kernel, out_dir)
    return plan


def _comment_block(text: str, kernel: KernelInfo) -> set[int]:
    """The 0-based lines of the comments directly above the kernel's first decorator."""
    lines = text.splitlines()
    block: set[int] = set()
    line = kernel.first_decorator_line - 1
    while line >= 0 and lines[line].lstrip().startswith("#"):
        block.add(line)
        line -= 1
    return block


def _plan_kernel(
    plan: Plan,
    owners: dict[Path, Job],
    source: Path,
    display: str,
    text: str,
    kernel: KernelInfo,
    out_dir: Path,
) -> None:
    if kernel.skip:
        plan.skipped += 1
        return
    if not kernel.examples:
        plan.reports.append(
            report_at(
                kernel.name_span,
                display,
                "info",
                "missing-args",
                f"kernel '{kernel.name}' has no '# h2j: args(...)' directive, so it is not "
                "exported",
            )
        )
        return
    count = len(kernel.examples)
    for index, example in enumerate(kernel.examples):
        try:
            output = output_path(out_dir, output_name(source.stem, kernel.name, index, count))
        except ValueError as exc:
            plan.reports.append(
                report_at(example.span, display, "error", "unsafe-output", str(exc))
            )
            continue
        job = Job(source, display, text, kernel, example, index, output)
        first = owners.setdefault(output, job)
        if first is not job:
            plan.reports.append(
                report_at(
                    example.span,
                    display,
                    "error",
                    "output-conflict",
                    f"{job.label} would overwrite {display_path(output)}, written for "
                    f"{first.label} of {first.display}; rename the file or the kernel",
                )
            )
            continue
        plan.jobs.append(job)


def _directive_report(error: DirectiveError, display: str) -> Report:
    return report_at(error.span, display, error.severity, error.code, error.message)


def report_at(span: Span, display: str, severity: Severity, code: str, message: str) -> Report:
    return Report(severity, code, message, display, span.start_line + 1, span.start_col)
