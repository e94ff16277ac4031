"""The session without an editor or a worker: a fake frontend holds the editor's documents
and records what the session reports; a fake exporter answers in-process."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from h2j_lsp import golden
from h2j_lsp.features.golden_check import golden_actions, golden_problems
from h2j_lsp.features.model import SOURCE, ClientDiagnostic
from h2j_lsp.session import Document, EditorText, Session, StateListener
from h2j_lsp.settings import InitOptions, Settings
from h2j_lsp.worker_client import HostSettings, WorkerState
from helion2json.worker.protocol import ExportRequest, ExportResult

KERNELS = """\
import helion


# h2j: args(torch.randn(4))
# h2j: args(torch.randn(8))
@helion.kernel()
def double(x):
    return x


# h2j: args(torch.randn(4))
@helion.kernel()
def negate(x):
    return x
"""


def document_for(request: ExportRequest) -> dict[str, Any]:
    """A stand-in for an exported document: what the request asked for."""
    body = [{"op": "hl.store", "result": request.args_text}]
    return {"version": 1, "module": {"funcs": [{"name": request.kernel, "body": body}]}}


class FakeFrontend:
    """The editor: its documents' texts, and everything the session told it."""

    def __init__(self) -> None:
        self.texts: dict[str, EditorText] = {}
        self.changed: list[tuple[str, int]] = []
        self.exports: list[tuple[str, str, int, int, bool]] = []
        self.errors: list[str] = []

    def edit(self, uri: str, text: str) -> int:
        version = self.texts[uri].version + 1 if uri in self.texts else 1
        self.texts[uri] = EditorText(text, version)
        return version

    def text(self, uri: str) -> EditorText:
        return self.texts[uri]

    def results_changed(self, document: Document) -> None:
        self.changed.append((document.uri, document.version))

    def exported(self, document: Document, kernel: str, example: int, ok: bool) -> None:
        self.exports.append((document.uri, kernel, example, document.version, ok))

    def status_changed(self, status: dict[str, str]) -> None:
        pass

    def show_error(self, message: str) -> None:
        self.errors.append(message)

    def log(self, message: str) -> None:
        pass

    @contextlib.asynccontextmanager
    async def progress(self, title: str) -> AsyncIterator[Callable[[str], None]]:
        yield lambda message: None


class FakeExporter:
    """Answers every request with :func:`document_for`; ``hold`` keeps answers back."""

    def __init__(self, settings: HostSettings, on_state: StateListener) -> None:
        self.settings = settings
        self.requests: list[ExportRequest] = []
        self.cancelled: list[ExportRequest] = []
        self.hold: asyncio.Event | None = None
        self.on_answer: Callable[[ExportRequest], None] = lambda request: None

    @property
    def state(self) -> WorkerState:
        return "idle"

    async def start(self) -> ExportResult | None:
        return None

    async def export(self, request: ExportRequest) -> ExportResult:
        self.requests.append(request)
        if self.hold is not None:
            try:
                await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled.append(request)
                raise
        self.on_answer(request)
        return ExportResult(True, document_for(request), (), {"worker": 0.01})

    async def restart(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class Harness:
    def __init__(self, folder: Path, settings: dict[str, Any] | None = None) -> None:
        self.frontend = FakeFrontend()
        self.exporters: list[FakeExporter] = []
        self.folder = folder
        self.session = Session(
            self.frontend, InitOptions(True, Settings(debounce_ms=0), []), self._new_exporter
        )
        self.session.set_folder(folder.as_uri(), str(folder))
        self.session.apply_settings(settings, {})

    def _new_exporter(self, host: HostSettings, on_state: StateListener) -> FakeExporter:
        exporter = FakeExporter(host, on_state)
        self.exporters.append(exporter)
        return exporter

    @property
    def exporter(self) -> FakeExporter:
        exporter = self.session.worker(self.session.defaults.host(str(self.folder)))
        assert isinstance(exporter, FakeExporter)
        return exporter

    def open(self, name: str, text: str = KERNELS) -> Document:
        path = self.folder / name
        uri = path.as_uri()
        self.frontend.edit(uri, text)
        return self.session.open(uri, str(path))

    def change(self, document: Document, text: str) -> int:
        version = self.frontend.edit(document.uri, text)
        self.session.change(document.uri)
        return version


async def finished(document: Document) -> None:
    job = document.job
    assert job is not None
    with contextlib.suppress(asyncio.CancelledError):
        await job


async def test_open_exports_every_example_of_the_editor_text(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    document = harness.open("k.py")
    await finished(document)
    uri = document.uri
    assert harness.frontend.exports == [
        (uri, "double", 0, 1, True),
        (uri, "double", 1, 1, True),
        (uri, "negate", 0, 1, True),
    ]
    assert [(r.kernel, r.args_text) for r in harness.exporter.requests] == [
        ("double", "torch.randn(4)"),
        ("double", "torch.randn(8)"),
        ("negate", "torch.randn(4)"),
    ]
    assert all(request.text == KERNELS for request in harness.exporter.requests)
    assert sorted(document.results) == ["double", "negate"]
    assert document.exported_version == 1


async def test_change_exports_the_new_text_and_forgets_removed_kernels(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    document = harness.open("k.py")
    await finished(document)
    edited = KERNELS.replace("def negate(", "def invert(")
    version = harness.change(document, edited)
    assert document.text == edited and document.version == version == 2
    assert "negate" not in document.results  # pruned at once, before the export
    await finished(document)
    assert sorted(document.results) == ["double", "invert"]
    assert harness.exporter.requests[-1].text == edited
    assert harness.frontend.exports[-1] == (document.uri, "invert", 0, 2, True)


async def test_a_newer_version_cancels_the_running_export(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    exporter = harness.exporter
    exporter.hold = asyncio.Event()
    document = harness.open("k.py")
    while not exporter.requests:
        await asyncio.sleep(0)
    first = document.job
    harness.change(document, KERNELS + "\n")
    assert first is not None and first is not document.job
    with contextlib.suppress(asyncio.CancelledError):
        await first
    assert first.cancelled()
    assert [request.text for request in exporter.cancelled] == [KERNELS]
    exporter.hold.set()
    await finished(document)
    # Only the second version was ever reported.
    assert {version for *_, version, _ok in harness.frontend.exports} == {2}
    assert {version for _uri, version in harness.frontend.changed} == {2}


async def test_a_result_for_an_outdated_version_is_dropped(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    document: Document | None = None

    def edit_meanwhile(request: ExportRequest) -> None:
        # The editor's copy moves on while the worker answers.
        assert document is not None
        if document.version == 1:
            harness.frontend.edit(document.uri, KERNELS + "# edited\n")

    harness.exporter.on_answer = edit_meanwhile
    document = harness.open("k.py")
    await finished(document)
    assert document.results == {}
    assert harness.frontend.exports == []
    assert document.exported_version is None


async def test_close_cancels_the_export_and_forgets_the_document(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    harness.exporter.hold = asyncio.Event()
    document = harness.open("k.py")
    while not harness.exporter.requests:
        await asyncio.sleep(0)
    job = document.job
    harness.session.close(document.uri)
    assert job is not None
    with contextlib.suppress(asyncio.CancelledError):
        await job
    assert job.cancelled()
    assert harness.session.documents == {}
    assert harness.frontend.exports == []


async def test_save_trigger_exports_only_on_save(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"trigger": "save"})
    document = harness.open("k.py")
    await finished(document)
    requests = len(harness.exporter.requests)
    harness.change(document, KERNELS + "\n")
    assert document.job is None
    harness.session.save(document.uri)
    await finished(document)
    assert len(harness.exporter.requests) == requests + 3
    harness.session.save(document.uri)  # the same text again: nothing to do
    assert document.job is not None and document.job.done()


async def test_goldens_are_read_once_per_export_not_per_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    read_golden = golden.read_golden

    def counting(path: Path) -> Any:
        reads.append(path)
        return read_golden(path)

    monkeypatch.setattr(golden, "read_golden", counting)
    out_dir = tmp_path / "helion-json"
    out_dir.mkdir()
    stale = {"version": 1, "module": {"funcs": [{"name": "negate", "body": []}]}}
    (out_dir / "k.negate.helion.json").write_text(json.dumps(stale))
    # Exports on save only: the edits below export nothing.
    harness = Harness(tmp_path, {"trigger": "save"})
    document = harness.open("k.py")
    await finished(document)
    assert len(reads) == 3  # one per example that exported

    [problem] = golden_problems(document)
    assert problem.kernel == "negate" and problem.example == 0
    assert problem.message.startswith("the export differs from helion-json/k.negate.helion.json")
    sent = [ClientDiagnostic(problem.code, SOURCE, {"kernel": "negate", "example": 0})]
    for _ in range(5):  # diagnostics and code actions on every keystroke read nothing
        assert golden_problems(document) == [problem]
        [action] = golden_actions(document, sent)
        assert action.arguments == [document.uri, "negate", 0]
        harness.change(document, document.text + "\n")
    assert len(reads) == 3

    # Writing the golden (the export command) compares again, once per example.
    (out_dir / "k.negate.helion.json").write_text(
        json.dumps(document_for(harness.exporter.requests[2]))
    )
    harness.session.goldens_written(document)
    assert len(reads) == 6
    assert golden_problems(document) == []
