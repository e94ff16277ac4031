"""Running a plan: the pool of exporter workers, and what each job's result comes to (a
written document, a checked or updated golden, or reports; with ``--verify``, whether the
document reproduces the kernel)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from h2j_lsp.cache import ExportCache
from h2j_lsp.ci.model import Job, Outcome, Plan, Related, Report, Run, Severity, Summary
from h2j_lsp.ci.plan import display_path, report_at
from h2j_lsp.golden import CorruptGolden, read_golden, structural_diff
from h2j_lsp.outputs import (
    InOtherFile,
    OnExportedLine,
    export_request,
    place,
    verify_request,
    write_document,
)
from h2j_lsp.worker_client import HostSettings, WorkerPool
from helion2json.core.environment import (
    EnvironmentChange,
    comparable,
    default_config_made_elsewhere,
)
from helion2json.worker.protocol import ExportDiagnostic, ExportResult, VerifyReport


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


async def export_plan(plan: Plan, settings: HostSettings, options: argparse.Namespace) -> Run:
    began = time.perf_counter()
    cache = ExportCache(directory=options.cache_dir)
    # A worker costs seconds to start (torch and helion): never more than there are exports.
    workers = min(options.jobs, len(plan.jobs))
    async with WorkerPool(settings, workers, cache=cache) as pool:
        failures = await pool.start()
        startup_seconds = time.perf_counter() - began
        started = len(failures) < workers
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


async def export_all(
    pool: WorkerPool, jobs: Sequence[Job], options: argparse.Namespace, progress: Progress
) -> list[Outcome]:
    async def one(job: Job) -> Outcome:
        request = export_request(
            os.path.abspath(job.source),
            job.text,
            job.kernel,
            job.index,
            locations=not options.no_locations,
        )
        result = await pool.export(request)
        # Validating and writing (with its fsync) in a thread keeps the other workers fed.
        if options.check:
            outcome = await asyncio.to_thread(check_job, job, result)
        else:
            outcome = await asyncio.to_thread(finish_job, job, result, options.update, options.mlir)
        if options.verify and result.ok:
            verification = await pool.verify(
                verify_request(
                    request, job.kernel, result.document, atol=options.atol, rtol=options.rtol
                )
            )
            outcome = verified_outcome(outcome, verification)
        progress.advance(job)
        return outcome

    return list(await asyncio.gather(*(one(job) for job in jobs)))


def finish_job(job: Job, result: ExportResult, update: bool = False, mlir: bool = False) -> Outcome:
    """Validate and write a successful document; turn failures into reports.

    With ``update`` an unchanged file is left alone and a rewritten one is reported;
    with ``mlir`` the document's MLIR lowering is written beside it.
    """
    if result.ok and result.document is not None:
        golden, existed = _committed(job.output) if update else (None, False)
        if update and golden == result.document:
            return Outcome(job, True, result.cached, result.host, ())
        problem = write_document(job.output, result.document)
        if problem is None:
            reports: tuple[Report, ...] = ()
            if update:
                verb = "updated" if existed else "created"
                message = f"{job.label}: {verb} {display_path(job.output)}"
                reports = (
                    report_at(job.kernel.name_span, job.display, "info", "golden-updated", message),
                )
            if mlir:
                reports += _write_mlir(job, result.document)
            return Outcome(job, True, result.cached, result.host, reports)
        result = ExportResult(False, None, (problem,), result.timings, result.cached, result.host)
    failures = tuple(_failure_report(job, item) for item in result.diagnostics)
    return Outcome(job, False, result.cached, result.host, failures)


# Each status's report: a pass is information; anything else fails the run, a kernel that
# no reference could check included (as ``helion2json verify`` exits 1 for it).
_VERIFY_SEVERITY: dict[str, Severity] = {
    "pass": "info",
    "mismatch": "error",
    "no-reference": "error",
    "error": "error",
}


def verified_outcome(outcome: Outcome, report: VerifyReport) -> Outcome:
    """The outcome with its verify report: where the worker placed a failure (the
    ``ref(...)`` directive, or the worker itself failing) it is reported as exports are."""
    job = outcome.job
    if report.diagnostics:
        found = tuple(
            _failure_report(job, replace(item, message=f"verify: {item.message}"))
            for item in report.diagnostics
        )
    else:
        message = f"{job.label}: verify: {report.message}"
        if report.ok:
            message = f"{job.label}: verified against the {report.reference}"
        code = "verified" if report.ok else f"verify-{report.status}"
        severity = _VERIFY_SEVERITY[report.status]
        found = (report_at(job.kernel.name_span, job.display, severity, code, message),)
    return replace(outcome, reports=(*outcome.reports, *found), verification=report)


def _write_mlir(job: Job, document: dict[str, Any]) -> tuple[Report, ...]:
    """``<name>.mlir`` beside the document; an op the lowering refuses is a warning."""
    from helion2json.core.export import write_atomically
    from helion2json.mlir import LoweringError, lower_document

    output = job.output.with_name(job.output.name.removesuffix(".helion.json") + ".mlir")
    try:
        write_atomically(output, lower_document(document))
    except LoweringError as exc:
        message = f"{job.label}: not lowered to MLIR: {exc}"
        return (
            report_at(job.kernel.name_span, job.display, "warning", "mlir-not-lowered", message),
        )
    except OSError as exc:
        message = f"cannot write {display_path(output)}: {exc.strerror or exc}"
        return (report_at(job.kernel.name_span, job.display, "error", "write-error", message),)
    return ()


def check_job(job: Job, result: ExportResult) -> Outcome:
    """Compare a fresh export with the committed file; write nothing."""
    if not (result.ok and result.document is not None):
        return finish_job(job, result)
    golden_path = display_path(job.output)
    try:
        golden = read_golden(job.output)
    except CorruptGolden as exc:
        message = (
            f"{job.label}: the committed export {golden_path} is corrupt ({exc}); "
            "run with --update to rewrite it"
        )
        report = report_at(job.kernel.name_span, job.display, "error", "golden-corrupt", message)
        return Outcome(job, False, result.cached, result.host, (report,))
    if golden is None:
        message = f"{job.label}: no committed export at {golden_path} (run with --update)"
        report = report_at(job.kernel.name_span, job.display, "error", "golden-missing", message)
        return Outcome(job, False, result.cached, result.host, (report,))
    elsewhere = default_config_made_elsewhere(golden, result.document)
    if elsewhere:
        message = f"{job.label}: {_made_elsewhere(golden_path, elsewhere[0])}"
        report = report_at(job.kernel.name_span, job.display, "error", "golden-device", message)
        return Outcome(job, False, result.cached, result.host, (report,))
    differences = structural_diff(*comparable(golden, result.document))
    if not differences:
        return Outcome(job, True, result.cached, result.host, ())
    # One line per report in every format; the differences read as a "; " list.
    changes = "; ".join(str(difference) for difference in differences)
    message = f"{job.label}: the export differs from {golden_path}: {changes}"
    report = report_at(job.kernel.name_span, job.display, "error", "golden-diff", message)
    return Outcome(job, False, result.cached, result.host, (report,))


def _made_elsewhere(golden_path: str, change: EnvironmentChange) -> str:
    return (
        f"{golden_path} was exported for {change.golden}, this export is for {change.fresh}, "
        "with Helion's default config, which differs between them: fix the config "
        "('# h2j: config(...)' or a config file) to export the same everywhere, or check "
        f"on a {change.golden} machine"
    )


def _committed(path: Path) -> tuple[Any, bool]:
    """The committed document at ``path`` (``None`` when corrupt), and whether a file is
    there."""
    try:
        golden = read_golden(path)
    except CorruptGolden:
        return None, True
    return golden, golden is not None


def _failure_report(job: Job, diagnostic: ExportDiagnostic) -> Report:
    """A worker diagnostic where the editor shows it too, or on the other file's line; with
    the line of another file that raised it, where there is one."""
    report = _placed_report(job, diagnostic)
    raised = diagnostic.related
    if raised is None:
        return report
    related = Related(display_path(Path(raised.file)), raised.line, raised.col)
    return replace(report, related=related)


def _placed_report(job: Job, diagnostic: ExportDiagnostic) -> Report:
    message = f"{job.label}: {diagnostic.message}"
    where = place(job.kernel, job.index, diagnostic)
    if isinstance(where, InOtherFile):
        if where.line is None:
            return report_at(job.kernel.name_span, job.display, "error", diagnostic.code, message)
        path = display_path(Path(where.file))
        return Report("error", diagnostic.code, message, path, where.line, where.col)
    if isinstance(where, OnExportedLine):
        return Report("error", diagnostic.code, message, job.display, where.line, where.col)
    return report_at(where, job.display, "error", diagnostic.code, message)


def summarize(plan: Plan, done: Run, seconds: float, *, verify: bool = False) -> Summary:
    outcomes = done.outcomes
    kernels = {(outcome.job.display, outcome.job.kernel.name) for outcome in outcomes}
    ok = sum(outcome.ok for outcome in outcomes)
    verifications = [o.verification for o in outcomes if o.verification is not None]
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
        verified=len(verifications) if verify else None,
        verified_ok=sum(report.ok for report in verifications),
    )
