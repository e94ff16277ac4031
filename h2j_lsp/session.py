"""The server's state: open documents, workspace folders and their settings, the workers,
and the scheduling of exports.

Nothing here speaks LSP. The session reports what changed through a :class:`Frontend`,
which the server implements, and reads the text of open documents through it: the editor's
copy (pygls's workspace, which applies every edit) is the only one. The ``features`` modules
turn the state into diagnostics, lenses and hints. Exports run as one background task per
document: a newer version of the document cancels the task of the older one, so results for
an outdated version are never shown. A verify runs when asked for, beside them; its result is
kept only for the version it verified.

A run exports only the kernels whose results are out of date: those whose
:class:`~h2j_lsp.cache.KernelInputs` changed, whose imported sibling modules changed on
disk, or whose last outcome is not one the same inputs reproduce. The kernel being edited
goes first, then the one the user looks at, then the rest in file order. A sibling module
that changes on disk (saved, or seen by the editor's file watcher) starts a run for the
documents that read it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from h2j_lsp.cache import ExportCache, FileHashes, KernelInputs, cacheable, kernel_inputs
from h2j_lsp.discovery import KernelInfo, ScanResult, scan_source
from h2j_lsp.golden import StaleGolden, stale_goldens
from h2j_lsp.outputs import export_request, verify_request
from h2j_lsp.settings import InitOptions, Settings
from h2j_lsp.text import SourceLines
from h2j_lsp.worker_client import HostSettings, WorkerClient, WorkerState
from helion2json.worker.protocol import (
    INFRASTRUCTURE_CODES,
    WORKER_FAILURE,
    Dependency,
    ExportRequest,
    ExportResult,
    VerifyReport,
    VerifyRequest,
    failure,
    text_sha256,
    verify_failure,
)

UNTRUSTED_MESSAGE = (
    "h2j does not export kernels in an untrusted workspace: exporting runs the file's code. "
    "Trust the workspace to see whether each kernel exports."
)


@dataclass(frozen=True)
class EditorText:
    """An open document's text and version, as the editor last sent them."""

    text: str
    version: int


class Frontend(Protocol):
    """How the session tells the editor about changes and reads the editor's documents
    (implemented by the server)."""

    def text(self, uri: str) -> EditorText:
        """The current text of an open document."""
        ...

    def results_changed(self, document: Document) -> None: ...

    def exported(self, document: Document, kernel: str, example: int, ok: bool) -> None: ...

    def verified(
        self, document: Document, kernel: str, example: int, report: VerifyReport
    ) -> None: ...

    def status_changed(self, status: dict[str, str]) -> None: ...

    def show_error(self, message: str) -> None: ...

    def log(self, message: str) -> None: ...

    def progress(self, title: str) -> AbstractAsyncContextManager[Callable[[str], None]]:
        """A work-done progress shown only if the work outlasts a moment; yields a reporter."""
        ...


class Exporter(Protocol):
    """What the session needs of a worker (a :class:`WorkerClient`, or a fake in tests)."""

    settings: HostSettings

    @property
    def state(self) -> WorkerState: ...

    async def start(self) -> ExportResult | None: ...

    async def export(self, request: ExportRequest) -> ExportResult: ...

    async def verify(self, request: VerifyRequest) -> VerifyReport: ...

    async def restart(self) -> None: ...

    async def stop(self) -> None: ...


StateListener = Callable[[WorkerState], None]


def worker_client(host: HostSettings, on_state: StateListener) -> Exporter:
    """A real worker process for the host, with an in-memory cache."""
    return WorkerClient(host, cache=ExportCache(), on_state=on_state)


@dataclass(frozen=True)
class KernelResults:
    """One kernel's export results, one per example (fewer if the worker failed meanwhile).

    ``anchor`` is the kernel's first decorator line in the text that was exported: until the
    current text is exported, the results show shifted by how far the kernel has moved.
    """

    anchor: int
    outcomes: tuple[ExportResult, ...]
    # The committed exports these outcomes differ from, compared when they arrived.
    stale: tuple[StaleGolden, ...] = ()
    # What each example was exported from; empty once the results must be computed again.
    inputs: tuple[KernelInputs, ...] = ()

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)

    def read_files(self) -> set[str]:
        """The other files these outcomes came from: imported, or named by a diagnostic."""
        files = {item.file for outcome in self.outcomes for item in outcome.dependencies}
        for outcome in self.outcomes:
            for item in outcome.diagnostics:
                files.update(
                    found for found in (item.file, item.related and item.related.file) if found
                )
        return files

    def shift(self, kernel: KernelInfo) -> int:
        return kernel.first_decorator_line - self.anchor


@dataclass(frozen=True)
class Verification:
    """A kernel's verify result for the document ``version`` it verified (shown only while
    that version is the current one)."""

    version: int
    example: int
    report: VerifyReport


@dataclass
class Folder:
    uri: str
    path: str
    settings: Settings


@dataclass
class Document:
    uri: str
    path: str
    # The editor's text: read, never copied, so that it is always the current one.
    read: Callable[[], EditorText]
    scan: ScanResult
    results: dict[str, KernelResults] = field(default_factory=dict)
    verifications: dict[str, Verification] = field(default_factory=dict)
    # The version whose exports all finished, so a save of the same text exports nothing.
    exported_version: int | None = None
    # Bumped on every change to what features show; the pull diagnostics' result id.
    revision: int = 0
    job: asyncio.Task[None] | None = None
    # Whether the current text parses; ``scan`` is of the last text that did.
    parses: bool = True
    # The kernel last previewed or under the cursor: exported right after the edited one.
    focus: str | None = None
    # Set when a file the results came from changed while a run was going: it goes again.
    files_changed: bool = False
    # Each kernel's own lines and directives when the last run started: what an edit changed.
    own_texts: dict[str, tuple[tuple[str, str, str | None], ...]] = field(default_factory=dict)
    _lines: SourceLines | None = None
    _text_sha256: tuple[str, str] | None = None

    @property
    def text(self) -> str:
        return self.read().text

    @property
    def version(self) -> int:
        return self.read().version

    @property
    def lines(self) -> SourceLines:
        """The current text by lines (indexed again only when the text changed)."""
        text = self.text
        if self._lines is None or self._lines.text is not text:
            self._lines = SourceLines(text)
        return self._lines

    def kernel(self, name: str) -> KernelInfo | None:
        return next((k for k in self.scan.kernels if k.name == name), None)

    def text_sha256(self) -> str:
        """The current text's content hash (computed again only when the text changed)."""
        text = self.text
        if self._text_sha256 is None or self._text_sha256[0] is not text:
            self._text_sha256 = (text, text_sha256(text))
        return self._text_sha256[1]

    def outdate(self) -> None:
        """Export every kernel again on the next run (another worker answers now)."""
        self.exported_version = None
        for name, results in self.results.items():
            self.results[name] = dataclasses.replace(results, inputs=())

    def rescan(self) -> None:
        scan = scan_source(self.text)
        self.parses = scan.syntax_error is None
        # While the user is in the middle of a statement the file does not parse; keeping the
        # last parseable scan keeps lenses, symbols and results from flickering away.
        if self.parses or not self.scan.kernels:
            self.scan = scan
        self.revision += 1


def exportable(kernel: KernelInfo) -> bool:
    return bool(kernel.examples) and not kernel.skip


def is_infrastructure(result: ExportResult | VerifyReport) -> bool:
    return any(item.code in INFRASTRUCTURE_CODES for item in result.diagnostics)


# Passes of a run that export a kernel again because a file it imported changed meanwhile.
# Bounded: a remote worker's copy of a sibling may never match the local file.
MAX_PASSES = 3


@dataclass(frozen=True)
class PendingKernel:
    kernel: KernelInfo
    inputs: tuple[KernelInputs, ...]


class Session:
    def __init__(
        self,
        frontend: Frontend,
        options: InitOptions,
        new_worker: Callable[[HostSettings, StateListener], Exporter] = worker_client,
    ) -> None:
        self.frontend = frontend
        self.new_worker = new_worker
        self.trusted = options.trusted
        self.initial = options.settings
        self.defaults = options.settings
        self.documents: dict[str, Document] = {}
        self.folders: dict[str, Folder] = {}
        self.workers: dict[HostSettings, Exporter] = {}
        # Set once the folders' settings are known: exports wait for it, so that the first
        # export of a file opened during start-up already uses its folder's worker.
        self.configured = asyncio.Event()
        self.status: dict[str, str] = self._untrusted_status() if not self.trusted else {}
        self._failing: set[HostSettings] = set()
        self._failure_message: dict[HostSettings, str] = {}
        # Tasks that use a worker (cancelled at shutdown) and that stop one (awaited).
        self._exporting: set[asyncio.Task[Any]] = set()
        self._stopping: set[asyncio.Task[Any]] = set()
        self.closing = False
        # The imported files' contents, hashed again only when their stat changes.
        self.files = FileHashes()

    # -- documents ---------------------------------------------------------------------------

    def open(self, uri: str, path: str) -> Document:
        """A document the editor opened (its text is the frontend's)."""
        read = functools.partial(self.frontend.text, uri)
        scan = scan_source(read().text)
        document = Document(uri, path, read, scan, parses=scan.syntax_error is None)
        self.documents[uri] = document
        self._schedule(document, delay=0.0)
        return document

    def change(self, uri: str) -> Document | None:
        """The editor changed the document's text (already applied to its copy)."""
        document = self.documents.get(uri)
        if document is None:
            return None
        document.rescan()
        self._prune(document)
        settings = self.settings_for(document)
        if settings.trigger == "change":
            self._schedule(document, delay=settings.debounce_ms / 1000)
            # Modules importing this one import the editor's text of it (unsaved edits too).
            self.files_changed([document.path], delay=settings.debounce_ms / 1000)
        else:
            # Nothing runs until the save; what ran for the old text no longer applies.
            self._cancel(document)
        return document

    def save(self, uri: str, text_changed: bool = False) -> None:
        """The editor saved the document; ``text_changed`` when the save brought a text other
        than the one the edits made (already applied to the editor's copy)."""
        document = self.documents.get(uri)
        if document is None:
            return
        if text_changed:
            document.rescan()
            self._prune(document)
        pending = document.job is not None and not document.job.done()
        if pending or document.exported_version != document.version:
            self._schedule(document, delay=0.0)
        # The worker imports a sibling module from its saved file: only now has it changed.
        self.files_changed([document.path])

    def files_changed(self, paths: Sequence[str], delay: float = 0.0) -> None:
        """Files changed (on disk, or an open one's text): run again, after ``delay``, the
        documents whose results came from them.

        A failure that the same inputs may not reproduce (a module that did not run, example
        arguments that raised) may come from a sibling module that is missing or broken, so
        its document runs again too. Each run exports only what is out of date.
        """
        changed = {_normal(path) for path in paths}
        for document in self.documents.values():
            if _normal(document.path) in changed or not self._reads(document, changed):
                continue
            if document.job is not None and not document.job.done():
                document.files_changed = True
            elif (
                self.settings_for(document).trigger == "change"
                or document.exported_version == document.version
            ):
                # With ``trigger: "save"`` an unsaved text exports on its own save.
                self._schedule(document, delay)

    @staticmethod
    def _reads(document: Document, changed: set[str]) -> bool:
        for results in document.results.values():
            # (A crash or a timeout does not come from a file: a file event retries none.)
            if any(_may_come_from_a_file(outcome) for outcome in results.outcomes):
                return True
            if any(_normal(file) in changed for file in results.read_files()):
                return True
        return False

    def focus(self, document: Document, line: int) -> None:
        """The user looks at ``line`` (0-based): its kernel is exported before the others."""
        for kernel in document.scan.kernels:
            if kernel.def_span.start_line <= line <= kernel.def_span.end_line:
                document.focus = kernel.name
                return

    def close(self, uri: str) -> None:
        document = self.documents.pop(uri, None)
        if document is not None:
            self._cancel(document)
            # Edits closed without saving no longer apply to the modules importing it.
            self.files_changed([document.path])

    def lookup(self, uri: str, path: str | None) -> Document | None:
        """The open document, else the file at ``path`` as saved (for commands on closed
        files); ``None`` for a URI that is not a file.

        Raises :class:`~helion2json.sources.UnreadableSource` (an ``OSError``) with the reason
        when the file cannot be read: the URI may name anything, ``/dev/zero`` included.
        """
        document = self.documents.get(uri)
        if document is not None:
            return document
        if path is None:
            return None
        # Imported on first use: helion2json pulls in pydantic, which the server needs late.
        from helion2json.sources import read_source

        text = read_source(path)
        saved = EditorText(text, 0)
        return Document(uri, path, lambda: saved, scan_source(text))

    def _prune(self, document: Document) -> None:
        """Forget the results of kernels that are gone, renamed or no longer exported."""
        names = {kernel.name for kernel in document.scan.kernels if exportable(kernel)}
        for name in [name for name in document.results if name not in names]:
            del document.results[name]

    # -- folders and settings ----------------------------------------------------------------

    def set_folder(self, uri: str, path: str) -> None:
        self.folders.setdefault(uri, Folder(uri, path, self.defaults))

    def remove_folder(self, uri: str) -> None:
        self.folders.pop(uri, None)

    def folder_for(self, document: Document) -> Folder | None:
        path = os.path.normcase(os.path.abspath(document.path))
        best: Folder | None = None
        for folder in self.folders.values():
            root = os.path.normcase(os.path.abspath(folder.path))
            inside = path == root or path.startswith(root.rstrip(os.sep) + os.sep)
            if inside and (best is None or len(folder.path) > len(best.path)):
                best = folder
        return best

    def settings_for(self, document: Document) -> Settings:
        folder = self.folder_for(document)
        return folder.settings if folder is not None else self.defaults

    def host_for(self, document: Document) -> HostSettings:
        folder = self.folder_for(document)
        if folder is None:
            return self.defaults.host(None)
        return folder.settings.host(folder.path)

    def apply_settings(self, shared: object, by_folder: Mapping[str, object]) -> None:
        """New raw ``h2j`` sections: ``shared`` for every folder, then each folder's own (by
        URI), both over the initialization options.

        Documents whose worker settings changed are exported again (by the new worker);
        workers no folder uses any more are stopped.
        """
        before = {uri: self.host_for(doc) for uri, doc in self.documents.items()}
        self.defaults = self._merge(self.initial, shared)
        for uri, folder in self.folders.items():
            folder.settings = self._merge(self.defaults, by_folder.get(uri))
        for uri, document in self.documents.items():
            # The outDir may have moved: compare with the goldens there.
            self._compare_goldens(document)
            if self.host_for(document) != before[uri]:
                document.outdate()
                self._schedule(document, delay=0.0)
        self._retire_unused_workers()
        self.configured.set()

    def _merge(self, base: Settings, raw: object) -> Settings:
        settings, problems = base.merged(raw)
        for problem in problems:
            self.frontend.log(f"settings: {problem}")
        return settings

    # -- workers -----------------------------------------------------------------------------

    def worker(self, host: HostSettings) -> Exporter:
        client = self.workers.get(host)
        if client is None:
            client = self.new_worker(host, functools.partial(self._on_state, host))
            self.workers[host] = client
        return client

    def start_eagerly(self, host: HostSettings) -> None:
        """Start a worker now, so that torch and helion import while the editor starts up."""
        if self.trusted:
            self._spawn(self._start(self.worker(host)), self._exporting)

    async def _start(self, client: Exporter) -> None:
        outcome = await client.start()
        if outcome is not None:
            self._note_health(client.settings, outcome)

    async def restart_workers(self) -> None:
        if not self.trusted:
            return
        # A worker restarts once the export it runs returns, which for a hung one is its
        # timeout: drop the exports (their files are exported again below) to restart now.
        await self._cancel_exports()
        self._failing.clear()
        for client in list(self.workers.values()):
            await client.restart()
        for document in self.documents.values():
            document.outdate()
            self._schedule(document, delay=0.0)

    def _retire_unused_workers(self) -> None:
        used = {self.host_for(document) for document in self.documents.values()}
        used.update(folder.settings.host(folder.path) for folder in self.folders.values())
        for host in [host for host in self.workers if host not in used]:
            self._spawn(self.workers.pop(host).stop(), self._stopping)

    def _on_state(self, host: HostSettings, state: WorkerState) -> None:
        if host not in self.workers:
            return  # a retired worker stopping: the status is the current worker's
        messages = {
            "stopped": "the exporter is stopped",
            "starting": "starting the exporter (importing torch and helion)",
            "idle": "the exporter is ready",
            "exporting": "exporting",
            "failed": self._failure_message.get(host, "the exporter failed to start"),
        }
        self.status = {"state": state, "host": host.host_label, "message": messages[state]}
        self.frontend.status_changed(self.status)

    def _untrusted_status(self) -> dict[str, str]:
        return {
            "state": "untrusted",
            "host": self.defaults.remote_host or "local",
            "message": UNTRUSTED_MESSAGE,
        }

    def current_status(self) -> dict[str, str]:
        if self.status:
            return self.status
        return {"state": "stopped", "host": self.defaults.remote_host or "local", "message": ""}

    def _note_health(self, host: HostSettings, result: ExportResult | VerifyReport) -> None:
        """One error message per failure episode; a good answer ends the episode."""
        if not is_infrastructure(result):
            self._failing.discard(host)
            return
        message = result.diagnostics[0].message
        self._failure_message[host] = message
        client = self.workers.get(host)
        if client is not None and client.state == "failed":
            self._on_state(host, "failed")  # the status now says why
        if host not in self._failing:
            self._failing.add(host)
            self.frontend.show_error(f"h2j: {message}")

    # -- exports -----------------------------------------------------------------------------

    async def export(self, document: Document, kernel: KernelInfo, example: int) -> ExportResult:
        """One example of one kernel from the document's current text (answered from the
        worker's cache when that text was exported before)."""
        if not self.trusted:
            return failure(UNTRUSTED_MESSAGE, "untrusted")
        if self.closing:
            return failure("the language server is shutting down", WORKER_FAILURE)
        task = asyncio.current_task()
        assert task is not None
        # Known, so that shutting down can cancel it: an export that went on after its worker
        # was stopped would start a new one.
        self._exporting.add(task)
        try:
            await self.configured.wait()
            host = self.host_for(document)
            result = await self.worker(host).export(self._request(document, kernel, example))
        finally:
            self._exporting.discard(task)
        self._note_health(host, result)
        return result

    def _request(self, document: Document, kernel: KernelInfo, example: int) -> ExportRequest:
        """The export of one example from the document's current text, with the editor's
        unsaved texts of the other files it may import."""
        return dataclasses.replace(
            export_request(document.path, document.text, kernel, example),
            unsaved=tuple(
                (path, text) for path, text in self.unsaved().items() if path != document.path
            ),
        )

    async def verify(
        self, document: Document, kernel: KernelInfo, example: int
    ) -> tuple[VerifyReport, bool]:
        """Verify one example of a kernel in the document's current text (its export, then
        its JSON in the reference interpreter, each answered from the cache when that text
        was seen before); and whether the result is for the current text. Only then is it
        kept and told to the frontend: a result for a superseded text is dropped.
        """
        if not self.trusted:
            return VerifyReport("error", UNTRUSTED_MESSAGE), False
        if self.closing:
            return VerifyReport("error", "the language server is shutting down"), False
        task = asyncio.current_task()
        assert task is not None
        self._exporting.add(task)
        try:
            await self.configured.wait()
            version = document.version
            host = self.host_for(document)
            client = self.worker(host)
            request = self._request(document, kernel, example)
            exported = await client.export(request)
            self._note_health(host, exported)
            if exported.ok:
                report = await client.verify(verify_request(request, kernel, exported.document))
                self._note_health(host, report)
            else:
                report = verify_failure(exported)
        finally:
            self._exporting.discard(task)
        if document.version != version or self.documents.get(document.uri) is not document:
            return report, False
        document.verifications[kernel.name] = Verification(version, example, report)
        document.revision += 1
        self.frontend.results_changed(document)
        self.frontend.verified(document, kernel.name, example, report)
        return report, True

    def _schedule(self, document: Document, delay: float) -> None:
        self._cancel(document)
        if self.trusted:
            document.job = asyncio.ensure_future(self._run(document, delay))

    def _cancel(self, document: Document) -> None:
        if document.job is not None:
            document.job.cancel()
            document.job = None

    async def _run(self, document: Document, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        await self.configured.wait()
        version = document.version
        if not document.parses:
            # The worker would only report the syntax error the editor already shows.
            return
        for number in range(1, MAX_PASSES + 1):
            document.files_changed = False
            if not await self._export_pass(document, version, number == MAX_PASSES):
                return
            if not document.files_changed:
                break
        document.exported_version = version

    async def _export_pass(self, document: Document, version: int, last: bool) -> bool:
        """Export the kernels that are out of date, most wanted first; False stops the run."""
        pending = self._pending_kernels(document)
        if not pending:
            return True
        title = f"h2j: exporting {os.path.basename(document.path)}"
        async with self.frontend.progress(title) as report:
            for item in pending:
                report(item.kernel.name)
                if not await self._export_kernel(document, item, version, last):
                    return False
        return True

    def _pending_kernels(self, document: Document) -> list[PendingKernel]:
        """The exportable kernels whose results are out of date: first those whose own lines
        or directives changed since the last run started (the one being edited), then the
        one the user looks at, then the others in file order."""
        text = document.text
        pending: list[tuple[int, PendingKernel]] = []
        own_texts = {}
        for kernel in document.scan.kernels:
            if not exportable(kernel):
                continue
            inputs = tuple(
                kernel_inputs(export_request(document.path, text, kernel, index))
                for index in range(len(kernel.examples))
            )
            own = tuple((item.source, item.args_text, item.config_text) for item in inputs)
            own_texts[kernel.name] = own
            previous = document.results.get(kernel.name)
            if previous is not None and self._up_to_date(previous, inputs):
                continue
            if document.own_texts.get(kernel.name) != own:
                rank = 0
            else:
                rank = 1 if kernel.name == document.focus else 2
            pending.append((rank, PendingKernel(kernel, inputs)))
        document.own_texts = own_texts
        return [item for _rank, item in sorted(pending, key=lambda ranked: ranked[0])]

    def _up_to_date(self, results: KernelResults, inputs: tuple[KernelInputs, ...]) -> bool:
        return (
            results.inputs == inputs
            and len(results.outcomes) == len(inputs)
            and all(cacheable(outcome) for outcome in results.outcomes)
            and self._current([d for outcome in results.outcomes for d in outcome.dependencies])
        )

    def _current(self, dependencies: Sequence[Dependency]) -> bool:
        return not dependencies or self.files.current(dependencies, self.unsaved())

    def unsaved(self) -> dict[str, str]:
        """The open documents whose text differs from their file: path -> the editor's text,
        which the worker imports instead of the file."""
        return {
            document.path: document.text
            for document in self.documents.values()
            if document.text_sha256() != self.files.sha256(document.path)
        }

    async def _export_kernel(
        self, document: Document, pending: PendingKernel, version: int, last_pass: bool
    ) -> bool:
        """Export every example of a kernel and publish; False stops the document's run
        (superseded, or the worker is down and every further export would fail the same)."""
        kernel = pending.kernel
        outcomes: list[ExportResult] = []
        for index in range(len(kernel.examples)):
            outcomes.append(await self.export(document, kernel, index))
            if is_infrastructure(outcomes[-1]):
                break
        if document.version != version:
            return False
        read = [item for outcome in outcomes for item in outcome.dependencies]
        if not last_pass and not self._current(read):
            # A sibling changed while the worker read it: this answer is already outdated.
            document.files_changed = True
            return True
        stale = self._stale_goldens(document, kernel.name, outcomes)
        document.results[kernel.name] = KernelResults(
            kernel.first_decorator_line, tuple(outcomes), stale, pending.inputs
        )
        document.revision += 1
        self.frontend.results_changed(document)
        for index, outcome in enumerate(outcomes):
            self.frontend.exported(document, kernel.name, index, outcome.ok)
        return not is_infrastructure(outcomes[-1])

    # -- goldens -----------------------------------------------------------------------------

    def goldens_written(self, document: Document) -> None:
        """Exports were written into the folder's outDir: compare with them again."""
        self._compare_goldens(document)
        self.frontend.results_changed(document)

    def _compare_goldens(self, document: Document) -> None:
        for name, results in document.results.items():
            stale = self._stale_goldens(document, name, results.outcomes)
            document.results[name] = dataclasses.replace(results, stale=stale)
        document.revision += 1

    def _stale_goldens(
        self, document: Document, kernel: str, outcomes: Sequence[ExportResult]
    ) -> tuple[StaleGolden, ...]:
        folder = self.folder_for(document)
        if folder is None:
            return ()
        return stale_goldens(
            Path(folder.settings.out_path(folder.path)),
            folder.path,
            Path(document.path).stem,
            kernel,
            [outcome.document if outcome.ok else None for outcome in outcomes],
        )

    # -- lifetime ----------------------------------------------------------------------------

    @staticmethod
    def _spawn(coroutine: Coroutine[Any, Any, None], tasks: set[asyncio.Task[Any]]) -> None:
        task = asyncio.ensure_future(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _cancel_exports(self) -> None:
        for document in self.documents.values():
            self._cancel(document)
        exporting = list(self._exporting)
        for task in exporting:
            task.cancel()
        await asyncio.gather(*exporting, return_exceptions=True)

    async def shutdown(self) -> None:
        self.closing = True
        await self._cancel_exports()
        await asyncio.gather(*self._stopping, return_exceptions=True)
        workers, self.workers = list(self.workers.values()), {}
        await asyncio.gather(*(client.stop() for client in workers), return_exceptions=True)


def _may_come_from_a_file(result: ExportResult) -> bool:
    """A failure the same inputs may not reproduce, other than the worker's own."""
    return not cacheable(result) and not is_infrastructure(result)


def _normal(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))
