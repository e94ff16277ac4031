"""``h2j-lsp --export``'s command line: its arguments, the run from plan to report, and
the exit status."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from h2j_lsp.ci.formats import FORMATS, emit
from h2j_lsp.ci.model import EXIT_ERROR, EXIT_FAILED, EXIT_OK, PROG, Report, Run, UsageError
from h2j_lsp.ci.plan import find_sources, plan_exports
from h2j_lsp.ci.run import export_plan, summarize
from h2j_lsp.worker_client import HostSettings
from helion2json.worker.protocol import TRANSPORT


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
        "--mlir",
        action="store_true",
        help="also write each document's MLIR lowering beside it, as <name>.mlir (docs/mlir.md)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress, summary or information diagnostics"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also run each exported document in the reference interpreter and compare it "
        "with the kernel (helion2json verify); a mismatch, or a kernel no reference could "
        "check, fails the run",
    )
    parser.add_argument(
        "--atol", type=float, metavar="X", help="with --verify: absolute tolerance, every output"
    )
    parser.add_argument(
        "--rtol", type=float, metavar="X", help="with --verify: relative tolerance, every output"
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
    if not (math.isfinite(options.timeout) and options.timeout > 0):
        raise UsageError(f"--timeout must be a positive number of seconds, not {options.timeout}")
    if options.host is not None and options.host.startswith("-"):
        raise UsageError(f"--host {options.host!r} is not a host name")
    if options.host is None and (options.remote_root or options.ssh_arg):
        raise UsageError("--remote-root and --ssh-arg need --host")
    if not options.verify and (options.atol is not None or options.rtol is not None):
        raise UsageError("--atol and --rtol need --verify")
    for name in ("atol", "rtol"):
        value = getattr(options, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise UsageError(f"--{name} must be a number >= 0, not {value}")
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
    summary = summarize(plan, done, time.perf_counter() - started, verify=options.verify)
    emit(options, [*done.infrastructure, *reports], done.outcomes, summary, status, sys.stdout)
    return status


def exit_status(reports: Sequence[Report], done: Run) -> int:
    if not done.started or any(report.code == TRANSPORT for report in reports):
        return EXIT_ERROR
    if any(report.severity == "error" for report in reports):
        return EXIT_FAILED
    return EXIT_OK


def _report_order(report: Report) -> tuple[str, int, int, str]:
    return (report.path or "", report.line or 0, report.col or 0, report.code)
