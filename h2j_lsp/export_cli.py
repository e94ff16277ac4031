"""``h2j-lsp --export PATH...``: export every annotated kernel under the paths, headless (CI).

It finds kernels and their ``# h2j:`` directives with the language server's own static
detection, exports every ``args(...)`` example through a pool of exporter workers (local, or
on a GPU host over SSH), validates each document, writes it atomically to
``<out-dir>/<module>.<kernel>[.<n>].helion.json`` and reports problems as text, JSON, GitHub
annotations or SARIF. Exit status: 0 when everything exported, 1 when a kernel or directive
failed, 2 for usage errors and when no exporter worker could be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import os
import sys
import time
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import quote

from h2j_lsp.cache import ExportCache
from h2j_lsp.discovery import Directive, DirectiveError, KernelInfo, Span, scan_source
from h2j_lsp.worker_client import HostSettings, WorkerPool
from helion2json.worker.protocol import TRANSPORT, ExportDiagnostic, ExportRequest, ExportResult

PROG = "h2j-lsp"
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "json", "github", "sarif")
SKIPPED_DIRECTORIES = frozenset({"__pycache__", ".venv", "venv", "node_modules"})
OUTPUT_SUFFIX = ".helion.json"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)

Severity = Literal["error", "warning", "info"]

# What each code means, for SARIF's rule descriptions.
RULES = {
    "bad-arguments": "The example arguments do not evaluate or do not fit the kernel.",
    "bind-error": "Helion could not bind the kernel to the example arguments.",
    "unsupported": "The kernel uses a construct the JSON format cannot express yet.",
    "ir-structure": "The device IR lacks a structure the exporter relies on.",
    "schema-error": "The exported document does not satisfy the JSON format.",
    "helion-version": "The installed helion is outside the supported range.",
    "export-error": "The kernel could not be exported.",
    "module-error": "The module failed while it was executed.",
    "missing-args": "The kernel has no args(...) directive, so it is not exported.",
    "directive-syntax": "A # h2j: directive does not parse.",
    "unknown-directive": "A # h2j: directive has an unknown name.",
    "duplicate-directive": "A kernel has the same single-use directive twice.",
    "orphan-directive": "A # h2j: directive is not attached to a kernel.",
    "syntax-error": "The file is not valid Python.",
    "read-error": "The file could not be read.",
    "output-conflict": "Two kernels would write the same output file.",
    "unsafe-output": "A kernel's output file name would leave the output directory.",
    "write-error": "The document could not be written.",
    "timeout": "The export took longer than the timeout.",
    "worker-failure": "The exporter worker failed.",
    "transport": "The GPU host could not be reached.",
}


class UsageError(Exception):
    """Bad command line: reported on one line, exit status 2."""


@dataclass(frozen=True)
class Report:
    """One diagnostic, in whatever format it is printed. ``line`` 1-based, ``col`` 0-based."""

    severity: Severity
    code: str
    message: str
    path: str | None = None
    line: int | None = None
    col: int | None = None


@dataclass(frozen=True)
class Job:
    """One example of one kernel."""

    source: Path
    display: str
    text: str
    kernel: KernelInfo
    example: Directive
    index: int
    output: Path

    @property
    def label(self) -> str:
        many = len(self.kernel.examples) > 1
        return f"kernel '{self.kernel.name}'" + (f" example {self.index}" if many else "")


@dataclass
class Plan:
    """What the scan found: the exports to run and the problems found on the way."""

    jobs: list[Job] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    skipped: int = 0


@dataclass(frozen=True)
class Outcome:
    job: Job
    ok: bool
    cached: bool
    host: str
    reports: tuple[Report, ...]


@dataclass(frozen=True)
class Run:
    """What the workers did with a plan."""

    outcomes: list[Outcome] = field(default_factory=list)
    infrastructure: list[Report] = field(default_factory=list)
    started: bool = True
    startup_seconds: float = 0.0
    export_seconds: float = 0.0


@dataclass(frozen=True)
class Summary:
    kernels: int
    examples: int
    ok: int
    failed: int
    skipped: int
    cached: int
    seconds: float
    startup_seconds: float
    export_seconds: float

    def line(self) -> str:
        return (
            f"exported {_count(self.kernels, 'kernel')} ({_count(self.examples, 'example')}): "
            f"{self.ok} ok, {self.failed} failed in {self.seconds:.1f}s"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} --export",
        description="Export every annotated Helion kernel under the paths (headless, for CI).",
    )
    parser.add_argument("--export", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    parser.add_argument(
        "--out-dir",
        default="helion-json",
        metavar="DIR",
        help="where documents go (default: helion-json)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files and directories whose path or name matches (repeatable)",
    )
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="exports at once")
    parser.add_argument("--format", choices=FORMATS, default="text", help="diagnostics format")
    parser.add_argument("--host", metavar="SSH_HOST", help="export on this GPU host over ssh")
    parser.add_argument("--remote-root", metavar="DIR", help="the project's folder on the host")
    parser.add_argument(
        "--remote-python", default="python3", metavar="PY", help="Python on the host"
    )
    parser.add_argument(
        "--local-root",
        metavar="DIR",
        help="the local folder that --remote-root mirrors (default: the current directory)",
    )
    parser.add_argument(
        "--ssh-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="pass ARG to ssh (repeatable; write --ssh-arg=-p --ssh-arg=2222)",
    )
    parser.add_argument(
        "--python", default=sys.executable, metavar="PY", help="Python of the local worker"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="seconds per export"
    )
    parser.add_argument("--cache-dir", metavar="DIR", help="keep results here between runs")
    parser.add_argument(
        "--no-locations", action="store_true", help="leave out the ops' source locations"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress, summary or information diagnostics"
    )
    goldens = parser.add_mutually_exclusive_group()
    goldens.add_argument(
        "--check",
        action="store_true",
        help="write nothing; fail when a fresh export differs from the file in the out-dir "
        "(committed goldens), printing the structural difference",
    )
    goldens.add_argument(
        "--update",
        action="store_true",
        help="rewrite only the out-dir files whose export changed, and say which",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        options = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse has printed the usage error
        return EXIT_ERROR if exc.code else EXIT_OK
    try:
        return asyncio.run(run(options))
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def host_settings(options: argparse.Namespace) -> HostSettings:
    if options.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if options.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if options.host is not None and options.host.startswith("-"):
        raise UsageError(f"--host {options.host!r} is not a host name")
    if options.host is None and (options.remote_root or options.ssh_arg):
        raise UsageError("--remote-root and --ssh-arg need --host")
    return HostSettings(
        python=options.python,
        ssh_host=options.host,
        remote_python=options.remote_python,
        remote_root=options.remote_root,
        local_root=None if options.local_root is None else os.path.abspath(options.local_root),
        ssh_args=tuple(options.ssh_arg),
        timeout_s=options.timeout,
    )


async def run(options: argparse.Namespace) -> int:
    started = time.perf_counter()
    settings = host_settings(options)
    plan = plan_exports(find_sources(options.paths, options.exclude), Path(options.out_dir))
    done = await export_plan(plan, settings, options) if plan.jobs else Run()
    reports = sorted(
        [*plan.reports, *(r for outcome in done.outcomes for r in outcome.reports)],
        key=_report_order,
    )
    status = exit_status(reports, done)
    if options.quiet:
        reports = [report for report in reports if report.severity != "info"]
    summary = summarize(plan, done, time.perf_counter() - started)
    emit(options, [*done.infrastructure, *reports], done.outcomes, summary, status, sys.stdout)
    return status


async def export_plan(plan: Plan, settings: HostSettings, options: argparse.Namespace) -> Run:
    began = time.perf_counter()
    cache = ExportCache(directory=options.cache_dir)
    async with WorkerPool(settings, options.jobs, cache=cache) as pool:
        failures = await pool.start()
        startup_seconds = time.perf_counter() - began
        started = len(failures) < options.jobs
        # Workers that failed beside ones that started only cost speed.
        severity: Severity = "warning" if started else "error"
        causes = dict.fromkeys(
            (item.diagnostics[0].code, item.diagnostics[0].message) for item in failures
        )
        infrastructure = [Report(severity, code, message) for code, message in causes]
        outcomes: list[Outcome] = []
        if started:
            progress = Progress(len(plan.jobs), enabled=not options.quiet and sys.stderr.isatty())
            outcomes = await export_all(pool, plan.jobs, options, progress)
            progress.finish()
        # Before the workers shut down, which takes as long whatever the number of exports.
        export_seconds = time.perf_counter() - began - startup_seconds
    return Run(outcomes, infrastructure, started, startup_seconds, export_seconds)


def exit_status(reports: Sequence[Report], done: Run) -> int:
    if not done.started or any(report.code == TRANSPORT for report in reports):
        return EXIT_ERROR
    if any(report.severity == "error" for report in reports):
        return EXIT_FAILED
    return EXIT_OK


def _report_order(report: Report) -> tuple[str, int, int, str]:
    return (report.path or "", report.line or 0, report.col or 0, report.code)


# --- finding files and kernels ------------------------------------------------------------


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
        if root.is_file():
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


def read_source(path: Path) -> str:
    """The file's text, decoded as Python does (coding cookie, BOM)."""
    with tokenize.open(path) as handle:
        return handle.read()


def plan_exports(sources: Sequence[Path], out_dir: Path) -> Plan:
    plan = Plan()
    owners: dict[Path, Job] = {}
    for source in sources:
        display = display_path(source)
        try:
            text = read_source(source)
        except (OSError, SyntaxError, UnicodeDecodeError) as exc:
            plan.reports.append(Report("error", "read-error", f"cannot read: {exc}", display))
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
            _at(
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
            plan.reports.append(_at(example.span, display, "error", "unsafe-output", str(exc)))
            continue
        job = Job(source, display, text, kernel, example, index, output)
        first = owners.setdefault(output, job)
        if first is not job:
            plan.reports.append(
                _at(
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


def output_name(module: str, kernel: str, index: int, count: int) -> str:
    """``<module>.<kernel>[.<n>].helion.json``: ``.<n>`` (0-based) only for several examples.

    Raises ``ValueError`` for a name that is not one plain file name.
    """
    name = f"{module}.{kernel}{f'.{index}' if count > 1 else ''}{OUTPUT_SUFFIX}"
    separators = {os.sep, os.altsep or os.sep, "\0"}
    if any(separator in name for separator in separators) or name in {".", ".."}:
        raise ValueError(f"refusing to write {name!r}: not a plain file name")
    return name


def output_path(out_dir: Path, name: str) -> Path:
    """``out_dir / name``, refusing anything that would land outside ``out_dir``."""
    target = out_dir / name
    if os.path.dirname(os.path.abspath(target)) != os.path.abspath(out_dir):
        raise ValueError(f"refusing to write {target}: outside {out_dir}")
    return target


def _directive_report(error: DirectiveError, display: str) -> Report:
    return _at(error.span, display, error.severity, error.code, error.message)


def _at(span: Span, display: str, severity: Severity, code: str, message: str) -> Report:
    return Report(severity, code, message, display, span.start_line + 1, span.start_col)


# --- exporting ----------------------------------------------------------------------------


class Progress:
    """``[done/total] file kernel`` on one rewritten stderr line, on terminals only."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.enabled = enabled

    def advance(self, job: Job) -> None:
        self.done += 1
        if self.enabled:
            sys.stderr.write(f"\r\x1b[K[{self.done}/{self.total}] {job.display} {job.label}")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


async def export_all(
    pool: WorkerPool, jobs: Sequence[Job], options: argparse.Namespace, progress: Progress
) -> list[Outcome]:
    async def one(job: Job) -> Outcome:
        request = ExportRequest(
            path=os.path.abspath(job.source),
            text=job.text,
            kernel=job.kernel.name,
            args_text=job.example.text,
            example_index=job.index,
            locations=not options.no_locations,
            config_text=job.kernel.config.text if job.kernel.config else None,
            config_line=job.kernel.config.line if job.kernel.config else None,
        )
        result = await pool.export(request)
        # Validating and writing (with its fsync) in a thread keeps the other workers fed.
        if options.check:
            outcome = await asyncio.to_thread(check_job, job, result)
        else:
            outcome = await asyncio.to_thread(finish_job, job, result, options.update)
        progress.advance(job)
        return outcome

    return list(await asyncio.gather(*(one(job) for job in jobs)))


def finish_job(job: Job, result: ExportResult, update: bool = False) -> Outcome:
    """Validate and write a successful document; turn failures into reports.

    With ``update`` an unchanged file is left alone and a rewritten one is reported.
    """
    if result.ok and result.document is not None:
        golden = _read_golden(job.output) if update else None
        if update and golden == result.document:
            return Outcome(job, True, result.cached, result.host, ())
        problem = write_document(job.output, result.document)
        if problem is None:
            reports: tuple[Report, ...] = ()
            if update:
                verb = "created" if golden is None else "updated"
                message = f"{job.label}: {verb} {display_path(job.output)}"
                reports = (
                    _at(job.kernel.name_span, job.display, "info", "golden-updated", message),
                )
            return Outcome(job, True, result.cached, result.host, reports)
        result = ExportResult(False, None, (problem,), result.timings, result.cached, result.host)
    failures = tuple(_failure_report(job, item) for item in result.diagnostics)
    return Outcome(job, False, result.cached, result.host, failures)


def check_job(job: Job, result: ExportResult) -> Outcome:
    """Compare a fresh export with the committed file; write nothing."""
    from h2j_lsp.golden import structural_diff

    if not (result.ok and result.document is not None):
        return finish_job(job, result)
    golden_path = display_path(job.output)
    golden = _read_golden(job.output)
    if golden is None:
        message = f"{job.label}: no committed export at {golden_path} (run with --update)"
        report = _at(job.kernel.name_span, job.display, "error", "golden-missing", message)
        return Outcome(job, False, result.cached, result.host, (report,))
    differences = structural_diff(golden, result.document)
    if not differences:
        return Outcome(job, True, result.cached, result.host, ())
    # One line per report in every format; the differences read as a "; " list.
    changes = "; ".join(str(difference) for difference in differences)
    message = f"{job.label}: the export differs from {golden_path}: {changes}"
    report = _at(job.kernel.name_span, job.display, "error", "golden-diff", message)
    return Outcome(job, False, result.cached, result.host, (report,))


def _read_golden(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_document(output: Path, document: dict[str, Any]) -> ExportDiagnostic | None:
    from helion2json.core.errors import ValidationError
    from helion2json.core.export import to_json_text, write_atomically
    from helion2json.core.schema import validate_spec

    try:
        # Again here: the worker may run another helion2json version than this client.
        validate_spec(document)
        write_atomically(output, to_json_text(document))
    except ValidationError as exc:
        return ExportDiagnostic(f"invalid document: {exc.message}", exc.code)
    except OSError as exc:
        return ExportDiagnostic(f"cannot write {output}: {exc.strerror or exc}", "write-error")
    return None


def _failure_report(job: Job, diagnostic: ExportDiagnostic) -> Report:
    """Place a worker diagnostic: its own line, else the args directive or the kernel name."""
    message = f"{job.label}: {diagnostic.message}"
    if diagnostic.line is not None:
        path = job.display if diagnostic.file is None else display_path(Path(diagnostic.file))
        return Report("error", diagnostic.code, message, path, diagnostic.line, diagnostic.col)
    if diagnostic.code == "bad-arguments":
        span = job.example.text_span
        col = span.start_col + (diagnostic.args_col or 0)
        return Report("error", diagnostic.code, message, job.display, span.start_line + 1, col)
    return _at(job.kernel.name_span, job.display, "error", diagnostic.code, message)


def summarize(plan: Plan, done: Run, seconds: float) -> Summary:
    outcomes = done.outcomes
    kernels = {(outcome.job.display, outcome.job.kernel.name) for outcome in outcomes}
    ok = sum(outcome.ok for outcome in outcomes)
    return Summary(
        kernels=len(kernels),
        examples=len(outcomes),
        ok=ok,
        failed=len(outcomes) - ok,
        skipped=plan.skipped,
        cached=sum(outcome.cached for outcome in outcomes),
        seconds=seconds,
        startup_seconds=done.startup_seconds,
        export_seconds=done.export_seconds,
    )


# --- output formats -----------------------------------------------------------------------


def emit(
    options: argparse.Namespace,
    reports: Sequence[Report],
    outcomes: Sequence[Outcome],
    summary: Summary,
    status: int,
    out: TextIO,
) -> None:
    if options.format == "json":
        out.write(json.dumps(json_output(reports, outcomes, summary, status), indent=2) + "\n")
    elif options.format == "sarif":
        out.write(json.dumps(sarif_output(reports, status), indent=2) + "\n")
    else:
        render = text_line if options.format == "text" else github_line
        for report in reports:
            out.write(render(report) + "\n")
    if not options.quiet:
        # Machine-readable formats keep stdout to the document.
        where = out if options.format in ("text", "github") else sys.stderr
        where.write(summary.line() + "\n")
    out.flush()


def text_line(report: Report) -> str:
    """``path:line:col: severity[code] message``, columns 1-based as compilers print them."""
    where = PROG
    if report.path is not None:
        where = report.path
        if report.line is not None:
            where += f":{report.line}:{(report.col or 0) + 1}"
    return f"{where}: {report.severity}[{report.code}] {_single_line(report.message)}"


def github_line(report: Report) -> str:
    """A GitHub Actions workflow command that annotates the line."""
    command = {"error": "error", "warning": "warning", "info": "notice"}[report.severity]
    properties = []
    if report.path is not None:
        properties.append(f"file={_github_property(report.path)}")
        if report.line is not None:
            properties.append(f"line={report.line}")
            properties.append(f"col={(report.col or 0) + 1}")
    properties.append(f"title={_github_property(f'{PROG} [{report.code}]')}")
    return f"::{command} {','.join(properties)}::{_github_data(report.message)}"


def _github_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def _single_line(text: str) -> str:
    return " ".join(text.split())


def json_output(
    reports: Sequence[Report], outcomes: Sequence[Outcome], summary: Summary, status: int
) -> dict[str, Any]:
    return {
        "version": 1,
        "exit_code": status,
        "diagnostics": [
            {
                "file": report.path,
                "line": report.line,
                "column": None if report.line is None else (report.col or 0) + 1,
                "severity": report.severity,
                "code": report.code,
                "message": report.message,
            }
            for report in reports
        ],
        "exports": [
            {
                "file": outcome.job.display,
                "kernel": outcome.job.kernel.name,
                "example": outcome.job.index,
                "args_line": outcome.job.example.line,
                "output": display_path(outcome.job.output) if outcome.ok else None,
                "ok": outcome.ok,
                "cached": outcome.cached,
                "host": outcome.host,
            }
            for outcome in sorted(outcomes, key=lambda o: (o.job.display, o.job.example.line))
        ],
        "summary": {
            "kernels": summary.kernels,
            "examples": summary.examples,
            "ok": summary.ok,
            "failed": summary.failed,
            "skipped": summary.skipped,
            "cached": summary.cached,
            "seconds": round(summary.seconds, 3),
            "startup_seconds": round(summary.startup_seconds, 3),
            "export_seconds": round(summary.export_seconds, 3),
        },
    }


def sarif_output(reports: Sequence[Report], status: int) -> dict[str, Any]:
    from helion2json import __version__

    codes = sorted({report.code for report in reports})
    index = {code: number for number, code in enumerate(codes)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": PROG,
                        "version": __version__,
                        "rules": [
                            {
                                "id": code,
                                "shortDescription": {"text": RULES.get(code, code)},
                            }
                            for code in codes
                        ],
                    }
                },
                "originalUriBaseIds": {"SRCROOT": {"uri": Path.cwd().as_uri() + "/"}},
                "invocations": [{"executionSuccessful": status != EXIT_ERROR, "exitCode": status}],
                "results": [_sarif_result(report, index[report.code]) for report in reports],
            }
        ],
    }


def _sarif_result(report: Report, rule_index: int) -> dict[str, Any]:
    level = {"error": "error", "warning": "warning", "info": "note"}[report.severity]
    result: dict[str, Any] = {
        "ruleId": report.code,
        "ruleIndex": rule_index,
        "level": level,
        "message": {"text": report.message},
    }
    if report.path is not None:
        physical: dict[str, Any] = {"artifactLocation": _sarif_artifact(report.path)}
        if report.line is not None:
            physical["region"] = {"startLine": report.line, "startColumn": (report.col or 0) + 1}
        result["locations"] = [{"physicalLocation": physical}]
    return result


def _sarif_artifact(path: str) -> dict[str, Any]:
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path), "uriBaseId": "SRCROOT"}


if __name__ == "__main__":
    raise SystemExit(main())
