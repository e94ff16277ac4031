"""Which kernels a run exports, in which order, and which documents a changed file runs
again: the session with a fake exporter that records its requests."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path

import pytest
from test_session import FakeExporter, Harness, finished

from h2j_lsp.session import Document, StateListener
from h2j_lsp.worker_client import HostSettings
from helion2json.worker.protocol import (
    Dependency,
    ExportRequest,
    ExportResult,
    failure,
    text_sha256,
)

pytestmark = pytest.mark.asyncio


def kernel(name: str, body: str = "return x") -> str:
    return f"# h2j: args(torch.randn(4))\n@helion.kernel()\ndef {name}(x):\n    {body}\n\n\n"


NAMES = [f"k{n}" for n in range(1, 9)]
EIGHT = "import helion\n\nSCALE = 1\n\n\n" + "".join(kernel(name) for name in NAMES)


class ReadingExporter(FakeExporter):
    """Answers as FakeExporter, with ``reads`` (a file) recorded as each export's import,
    or with a failure of code ``failing``."""

    reads: Path | None = None
    failing: str | None = None

    async def export(self, request: ExportRequest) -> ExportResult:
        reads = self.reads
        # Read when the request starts, as the worker imports before it exports: the
        # editor's text where it has unsaved edits, else the file.
        unsaved = dict(request.unsaved)
        if reads is None:
            digest = ""
        elif str(reads) in unsaved:
            digest = text_sha256(unsaved[str(reads)])
        else:
            digest = hashlib.sha256(reads.read_bytes()).hexdigest()
        result = await super().export(request)
        if self.failing is not None:
            return failure("ImportError: cannot import name 'scale'", self.failing)
        if reads is None:
            return result
        return dataclasses.replace(result, dependencies=(Dependency(str(reads), digest),))


class ReadingHarness(Harness):
    def _new_exporter(self, host: HostSettings, on_state: StateListener) -> FakeExporter:
        exporter = ReadingExporter(host, on_state)
        self.exporters.append(exporter)
        return exporter

    @property
    def reading(self) -> ReadingExporter:
        exporter = self.exporter
        assert isinstance(exporter, ReadingExporter)
        return exporter


def reading(tmp_path: Path, sibling: str) -> tuple[ReadingHarness, Path]:
    """A harness whose exports read ``helpers.py``, holding ``sibling``."""
    harness = ReadingHarness(tmp_path)
    helpers = tmp_path / "helpers.py"
    helpers.write_text(sibling)
    harness.reading.reads = helpers
    return harness, helpers


def asked(harness: Harness, since: int = 0) -> list[str]:
    return [request.kernel for request in harness.exporter.requests[since:]]


async def opened(harness: Harness, text: str = EIGHT, name: str = "k.py") -> Document:
    document = harness.open(name, text)
    await finished(document)
    return document


async def test_an_edit_in_the_last_kernel_exports_only_it(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    document = await opened(harness)
    assert asked(harness) == NAMES
    before = len(harness.exporter.requests)
    exports = len(harness.frontend.exports)
    harness.change(document, EIGHT.replace("def k8(x):\n    return x", "def k8(x):\n    return -x"))
    await finished(document)
    assert asked(harness, before) == ["k8"]
    assert [kernel for _u, kernel, *_ in harness.frontend.exports[exports:]] == ["k8"]
    # The others keep their results (and so their diagnostics).
    assert sorted(document.results) == sorted(NAMES)


async def test_the_edited_kernel_goes_first_then_the_focus_then_file_order(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path)
    document = await opened(harness)
    before = len(harness.exporter.requests)
    harness.session.focus(document, EIGHT.split("\n").index("def k5(x):"))
    edited = EIGHT.replace("SCALE = 1", "SCALE = 2").replace(
        "def k7(x):\n    return x", "def k7(x):\n    return x + x"
    )
    harness.change(document, edited)
    await finished(document)
    assert asked(harness, before) == ["k7", "k5", "k1", "k2", "k3", "k4", "k6", "k8"]


async def test_module_code_outside_kernels_exports_all_of_them(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    document = await opened(harness)
    before = len(harness.exporter.requests)
    harness.change(document, EIGHT.replace("SCALE = 1", "SCALE = 2"))
    await finished(document)
    assert asked(harness, before) == NAMES


async def test_a_restart_exports_every_kernel_again(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    document = await opened(harness)
    before = len(harness.exporter.requests)
    await harness.session.restart_workers()
    await finished(document)
    assert asked(harness, before) == NAMES


async def test_a_changed_sibling_runs_its_dependents_only(tmp_path: Path) -> None:
    harness, helpers = reading(tmp_path, "def scale(x):\n    return x\n")
    exporter = harness.reading
    reader = await opened(harness)
    exporter.reads = None
    other = await opened(harness, name="other.py")
    before = len(exporter.requests)

    # A file no kernel read changes nothing.
    (tmp_path / "unrelated.py").write_text("x = 1\n")
    harness.session.files_changed([str(tmp_path / "unrelated.py")])
    assert reader.job is not None and reader.job.done()
    assert other.job is not None and other.job.done()

    helpers.write_text("def scaled(x):\n    return x\n")
    exporter.reads = helpers
    harness.session.files_changed([str(helpers)])
    await finished(reader)
    assert [r.path for r in exporter.requests[before:]] == [reader.path] * len(NAMES)
    assert other.job is not None and other.job.done()

    # Unchanged on disk since: the next run has nothing to export.
    before = len(exporter.requests)
    harness.session.files_changed([str(helpers)])
    await finished(reader)
    assert len(exporter.requests) == before


async def test_a_failure_that_may_come_from_a_sibling_runs_again(tmp_path: Path) -> None:
    harness = ReadingHarness(tmp_path)
    exporter = harness.reading
    exporter.failing = "module-error"
    document = await opened(harness)
    assert not document.results["k1"].ok
    exporter.failing = None
    harness.session.files_changed([str(tmp_path / "helpers.py")])
    await finished(document)
    assert all(results.ok for results in document.results.values())


async def test_a_worker_failure_is_not_retried_by_a_file_event(tmp_path: Path) -> None:
    harness = ReadingHarness(tmp_path)
    harness.reading.failing = "worker-failure"
    document = await opened(harness)
    assert not document.results["k1"].ok
    before = len(harness.reading.requests)
    harness.session.files_changed([str(tmp_path / "helpers.py")])
    assert document.job is not None and document.job.done()
    assert len(harness.reading.requests) == before


async def test_a_sibling_changed_during_its_export_is_exported_again(tmp_path: Path) -> None:
    harness, helpers = reading(tmp_path, "A = 1\n")
    exporter = harness.reading
    text = "import helion\n\n\n" + kernel("only")
    document = await opened(harness, text)
    exporter.hold = asyncio.Event()
    helpers.write_text("A = 22\n")
    harness.session.files_changed([str(helpers)])
    while len(exporter.requests) < 2:
        await asyncio.sleep(0)
    # What the worker read is about to change again: its answer must not be shown.
    original = exporter.on_answer

    def rewrite_once(request: ExportRequest) -> None:
        exporter.on_answer = original
        helpers.write_text("A = 333\n")

    exporter.on_answer = rewrite_once
    exporter.hold.set()
    await finished(document)
    [dependency] = document.results["only"].outcomes[0].dependencies
    assert dependency.sha256 == hashlib.sha256(b"A = 333\n").hexdigest()
    assert len(exporter.requests) == 3
    assert len([e for e in harness.frontend.exports if e[1] == "only"]) == 2


async def test_an_open_siblings_unsaved_edits_reach_its_dependents(tmp_path: Path) -> None:
    harness, helpers = reading(tmp_path, "def scale(x):\n    return x\n")
    exporter = harness.reading
    sibling = await opened(harness, helpers.read_text(), name="helpers.py")
    reader = await opened(harness)
    assert all(request.unsaved == () for request in exporter.requests)

    before = len(exporter.requests)
    harness.change(sibling, "def scaled(x):\n    return x\n")
    assert reader.job is not None
    await finished(reader)
    asked_now = [r for r in exporter.requests[before:] if r.path == reader.path]
    assert len(asked_now) == len(NAMES)
    assert all(r.unsaved == ((str(helpers), sibling.text),) for r in asked_now)

    # Closed without saving: the file applies again.
    before = len(exporter.requests)
    harness.session.close(sibling.uri)
    await finished(reader)
    asked_now = exporter.requests[before:]
    assert len(asked_now) == len(NAMES)
    assert all(r.unsaved == () for r in asked_now)
