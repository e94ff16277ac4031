"""The worker's ``h2j/verify`` request: its messages, their framing through the worker's
JSON-RPC loop, and what the worker answers for real kernels."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from verify_kernels import ADD, NOISY, UNPROVEN_MATMUL, WRITES_NOTHING

from helion2json.core import verify
from helion2json.worker.exporter import ModuleExporter
from helion2json.worker.protocol import (
    EXPORT,
    VERIFY,
    ExportDiagnostic,
    ExportRequest,
    ExportResult,
    OutputComparison,
    SkippedReference,
    VerifyReport,
    VerifyRequest,
    WorkerInfo,
    verify_failure,
)
from helion2json.worker.rpc import INVALID_PARAMS, read_frame, serve
from helion2json.worker.service import WorkerService

KERNELS = ADD + NOISY + WRITES_NOTHING
ADD_ARGS = "torch.randn(8, 8), torch.randn(8, 8)"


def export_request(path: Path, kernel: str = "add", args: str = ADD_ARGS) -> ExportRequest:
    return ExportRequest(str(path), KERNELS, kernel, args)


# ------------------------------------------------------------------ messages


def test_a_verify_request_travels_and_is_checked(tmp_path: Path) -> None:
    request = VerifyRequest(
        export_request(tmp_path / "k.py"),
        {"version": 1},
        reference_text="torch.add",
        reference_line=4,
        atol=1e-3,
        rtol=0,
    )
    wire = json.loads(json.dumps(request.to_wire()))
    assert VerifyRequest.from_wire(wire) == VerifyRequest(
        request.export, {"version": 1}, "torch.add", 4, 1e-3, 0.0
    )
    assert request.options() == {"reference_text": "torch.add", "atol": 1e-3, "rtol": 0}
    assert VerifyRequest.from_wire({"export": wire["export"]}) == VerifyRequest(request.export)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"export": None}, "lacks 'export'"),
        ({"export": {"path": "k.py"}}, "lacks 'text'"),
        ({"document": [1]}, "'document' must be an object"),
        ({"reference_text": 3}, "'reference_text' must be str"),
        ({"reference_line": True}, "'reference_line' must be int"),
        ({"atol": "tight"}, "'atol' must be a number >= 0"),
        ({"rtol": -1}, "'rtol' must be a number >= 0"),
    ],
)
def test_a_malformed_verify_request_is_refused(
    tmp_path: Path, change: dict[str, Any], complaint: str
) -> None:
    wire = {**VerifyRequest(export_request(tmp_path / "k.py")).to_wire(), **change}
    with pytest.raises(ValueError, match=complaint):
        VerifyRequest.from_wire(wire)


def test_a_report_travels_as_strict_json_even_with_infinite_errors() -> None:
    report = VerifyReport(
        "mismatch",
        "output 0 does not match",
        reference="helion eager reference mode",
        outputs=(
            OutputComparison("output 0", False, math.inf, math.inf, 1e-4, 1e-4, "f32", "shape"),
            OutputComparison("output 1", True, 0.0, 0.0, 0.0, 0.0, "i32"),
        ),
        skipped=(SkippedReference("compiled kernel (cuda)", "CUDA is not available"),),
        timings={"worker": 0.5},
    )
    text = json.dumps(report.to_wire(), allow_nan=False)
    assert VerifyReport.from_wire(json.loads(text)) == report
    assert report.outputs[1].describe() == "max abs 0.0e+00, max rel 0.0e+00 (exact)"
    assert report.outputs[0].describe() == "shape"
    # Whatever arrives, the status is one of the four.
    assert VerifyReport.from_wire({"status": "great"}).status == "error"


def test_a_failed_export_is_a_verify_error_that_keeps_its_diagnostics() -> None:
    broken = ExportDiagnostic("name 'nope' is not defined", "module-error", 3)
    report = verify_failure(ExportResult(False, None, (broken,), {}))
    assert report.status == "error" and report.diagnostics == (broken,)
    assert report.message == "the kernel does not export: name 'nope' is not defined"
    gone = verify_failure(ExportResult(False, None, (ExportDiagnostic("died", "timeout"),), {}))
    assert gone.message == "died"


# ------------------------------------------------------------------ framing


class FakeExporter:
    def __init__(self) -> None:
        self.verified: list[VerifyRequest] = []

    def export(self, request: ExportRequest) -> ExportResult:
        return ExportResult(True, {"version": 1}, (), {})

    def verify(self, request: VerifyRequest) -> VerifyReport:
        self.verified.append(request)
        return VerifyReport("pass", "matches", reference="user reference torch.add")


def frame(message: Any) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def served(*messages: Any) -> tuple[list[dict[str, Any]], FakeExporter]:
    exporter = FakeExporter()
    info = WorkerInfo(1, "3", "t", "h", "j", "cpu", 1)
    service = WorkerService(exporter, info)  # type: ignore[arg-type]
    writer = io.BytesIO()
    serve(service.handlers(), io.BytesIO(b"".join(frame(m) for m in messages)), writer)
    stream = io.BytesIO(writer.getvalue())
    replies = []
    while (body := read_frame(stream)) is not None:
        replies.append(json.loads(body))
    return replies, exporter


def test_verify_is_answered_with_the_report_and_the_worker_bookkeeping(tmp_path: Path) -> None:
    request = VerifyRequest(export_request(tmp_path / "k.py"), reference_text="torch.add")
    replies, exporter = served(
        {"jsonrpc": "2.0", "id": 1, "method": EXPORT, "params": request.export.to_wire()},
        {"jsonrpc": "2.0", "id": 2, "method": VERIFY, "params": request.to_wire()},
    )
    assert [reply["id"] for reply in replies] == [1, 2]
    answer = replies[1]["result"]
    assert VerifyReport.from_wire(answer["result"]).reference == "user reference torch.add"
    # Exports and verifies count alike towards recycling the worker.
    assert answer["worker"]["requests"] == 2
    assert exporter.verified == [request]


def test_a_malformed_verify_is_an_invalid_params_error_and_the_worker_goes_on() -> None:
    replies, exporter = served(
        {"jsonrpc": "2.0", "id": 1, "method": VERIFY, "params": {"export": 5}},
        {"jsonrpc": "2.0", "id": 2, "method": VERIFY, "params": [1]},
        {"jsonrpc": "2.0", "id": 3, "method": EXPORT, "params": {"path": 1}},
    )
    assert [reply["error"]["code"] for reply in replies] == [INVALID_PARAMS] * 3
    assert "lacks 'export'" in replies[0]["error"]["message"]
    assert exporter.verified == []


# ------------------------------------------------------------------ the real worker


@pytest.fixture(scope="module")
def exporter() -> ModuleExporter:
    return ModuleExporter()


def test_a_correct_kernel_passes_reusing_the_exported_document(
    exporter: ModuleExporter, tmp_path: Path
) -> None:
    request = export_request(tmp_path / "k.py")
    exported = exporter.export(request)
    assert exported.ok and exported.document is not None
    report = exporter.verify(VerifyRequest(request, exported.document))
    assert report.status == "pass", report
    assert report.reference is not None and report.message.endswith(report.reference)
    assert [output.label for output in report.outputs] == ["output 0"]
    # The document given was interpreted, not exported again.
    assert "export" not in report.timings and "verify" in report.timings
    fresh = exporter.verify(VerifyRequest(request))
    assert fresh.status == "pass" and "export" in fresh.timings


def test_a_kernel_drawing_its_own_random_numbers_mismatches(
    exporter: ModuleExporter, tmp_path: Path
) -> None:
    report = exporter.verify(
        VerifyRequest(export_request(tmp_path / "k.py", "noisy", "torch.randn(16)"))
    )
    assert report.status == "mismatch", report
    assert report.message.startswith("output 0 does not match the ")
    assert "max abs" in report.message and not report.outputs[0].ok


def test_a_kernel_with_nothing_to_compare_is_an_error(
    exporter: ModuleExporter, tmp_path: Path
) -> None:
    report = exporter.verify(
        VerifyRequest(export_request(tmp_path / "k.py", "writes_nothing", "torch.randn(16)"))
    )
    assert report.status == "error"
    assert report.message.startswith("nothing to compare")


def test_a_reference_directive_that_raises_is_placed_on_its_line(
    exporter: ModuleExporter, tmp_path: Path
) -> None:
    request = VerifyRequest(
        export_request(tmp_path / "k.py"), reference_text="1 / 0", reference_line=6
    )
    report = exporter.verify(request)
    assert report.status == "error"
    assert (
        report.message
        == "could not verify: reference '1 / 0' raised ZeroDivisionError: division by zero"
    )
    assert [(d.code, d.line) for d in report.diagnostics] == [("bad-arguments", 6)]


def test_a_kernel_that_does_not_load_is_an_error_with_the_export_diagnostics(
    exporter: ModuleExporter, tmp_path: Path
) -> None:
    report = exporter.verify(VerifyRequest(export_request(tmp_path / "k.py", "missing", "1")))
    assert report.status == "error"
    assert [d.code for d in report.diagnostics] == ["module-error"]
    assert "defines no 'missing'" in report.message


def test_a_reference_that_exits_is_an_error_not_the_end_of_the_worker(
    exporter: ModuleExporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without Triton's interpreter, and eager mode as PyTorch has it (no CPU kernel for the
    # out-dtype products matmul reaches): the user reference is the one that runs, and exits.
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.setattr(verify, "out_dtype_products_on_cpu", contextlib.nullcontext)
    export = ExportRequest(
        str(tmp_path / "k.py"),
        UNPROVEN_MATMUL,
        "matmul",
        "torch.randn(4, 8), torch.randn(8, 4)",
    )
    report = exporter.verify(VerifyRequest(export, reference_text="lambda x, y: exit(4)"))
    assert report.status == "error", report
    assert report.message == "verification failed: SystemExit: 4"
    assert [d.code for d in report.diagnostics] == ["verify-error"]
