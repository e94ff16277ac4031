"""The formats ``h2j-lsp --export`` prints its reports in: text, JSON, GitHub Actions
annotations and SARIF."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from h2j_lsp.ci.model import EXIT_ERROR, PROG, Outcome, Related, Report, Summary
from h2j_lsp.ci.plan import display_path
from h2j_lsp.outputs import RAISED_HERE

FORMATS = ("text", "json", "github", "sarif")
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)

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
    "verified": "The exported document reproduces the kernel (--verify).",
    "verify-mismatch": "The exported document computes other values than the kernel.",
    "verify-no-reference": "No reference could run to check the exported document.",
    "verify-error": "The exported document could not be verified.",
}


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
        "diagnostics": [_json_diagnostic(report) for report in reports],
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
                **_json_verification(outcome),
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
            **(
                {"verified": summary.verified, "verified_ok": summary.verified_ok}
                if summary.verified is not None
                else {}
            ),
        },
    }


def _json_verification(outcome: Outcome) -> dict[str, Any]:
    """``{"verify": ...}`` for an export that was verified (``--verify``), else nothing."""
    report = outcome.verification
    if report is None:
        return {}
    return {"verify": report.outcome()}


def _json_diagnostic(report: Report) -> dict[str, Any]:
    item: dict[str, Any] = {
        "file": report.path,
        "line": report.line,
        "column": None if report.line is None else (report.col or 0) + 1,
        "severity": report.severity,
        "code": report.code,
        "message": report.message,
    }
    if report.related is not None:
        related = report.related
        item["related"] = {
            "file": related.path,
            "line": related.line,
            "column": (related.col or 0) + 1,
        }
    return item


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
        physical = _sarif_physical(report.path, report.line, report.col)
        result["locations"] = [{"physicalLocation": physical}]
    if report.related is not None:
        result["relatedLocations"] = [_sarif_related(report.related)]
    return result


def _sarif_physical(path: str, line: int | None, col: int | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _sarif_artifact(path)}
    if line is not None:
        physical["region"] = {"startLine": line, "startColumn": (col or 0) + 1}
    return physical


def _sarif_related(related: Related) -> dict[str, Any]:
    return {
        "id": 0,
        "physicalLocation": _sarif_physical(related.path, related.line, related.col),
        "message": {"text": RAISED_HERE},
    }


def _sarif_artifact(path: str) -> dict[str, Any]:
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path), "uriBaseId": "SRCROOT"}
