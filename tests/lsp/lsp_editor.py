"""A real ``h2j-lsp`` process driven by pytest-lsp's client, and what it sent back."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

WORKSPACE = Path(__file__).parent / "workspace"
KERNELS = (WORKSPACE / "kernels.py").read_text()
SERVER = [sys.executable, "-m", "h2j_lsp"]
# Covers a worker start (importing torch and helion) on a loaded two-core machine.
EXPORT_TIMEOUT_S = 90.0

T = TypeVar("T")

FULL_CAPABILITIES = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        configuration=True,
        workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
        diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=True),
        code_lens=types.CodeLensWorkspaceClientCapabilities(refresh_support=True),
        inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True),
    ),
    text_document=types.TextDocumentClientCapabilities(
        diagnostic=types.DiagnosticClientCapabilities(),
        hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
        document_symbol=types.DocumentSymbolClientCapabilities(
            hierarchical_document_symbol_support=True
        ),
    ),
    window=types.WindowClientCapabilities(work_done_progress=True),
)


class Editor:
    """A pytest-lsp client plus what the server sent it, with waits on both."""

    def __init__(self, client: LanguageClient, workspace: Path, pull: bool) -> None:
        self.client = client
        self.workspace = workspace
        self.pull = pull
        self.initialize_result: types.InitializeResult | None = None
        self.statuses: list[dict[str, Any]] = []
        self.exports: list[dict[str, Any]] = []
        self.versions: dict[str, int] = {}
        self.opened: set[str] = set()
        self.texts: dict[str, str] = {}
        self.paths: dict[str, Path] = {}
        # The diagnostics the client held when each h2j/exported arrived (pushed ones).
        self.diagnostics_at_export: list[list[types.Diagnostic]] = []
        self.registrations: list[types.Registration] = []
        client.feature("h2j/status")(lambda params: self.statuses.append(_plain(params)))
        client.feature("h2j/exported")(lambda params: self._exported(params))
        self.verifications: list[dict[str, Any]] = []
        client.feature("h2j/verified")(lambda params: self.verifications.append(_plain(params)))
        client.feature(types.CLIENT_REGISTER_CAPABILITY)(
            lambda params: self.registrations.extend(params.registrations)
        )
        for method in (types.WORKSPACE_CODE_LENS_REFRESH, types.WORKSPACE_INLAY_HINT_REFRESH):
            client.feature(method)(lambda params: None)

    def _exported(self, params: Any) -> None:
        export = _plain(params)
        self.diagnostics_at_export.append(list(self.client.diagnostics.get(export["uri"], [])))
        self.exports.append(export)

    @property
    def server_pid(self) -> int:
        assert self.client._server is not None
        return self.client._server.pid

    def open(self, name: str, text: str = KERNELS, folder: Path | None = None) -> str:
        path = (folder or self.workspace) / name
        path.write_text(text)
        uri = path.as_uri()
        self.paths[uri] = path
        self.versions[uri] = 1
        self.texts[uri] = text
        self.opened.add(uri)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )
        return uri

    def change(self, uri: str, text: str) -> int:
        """Replace the whole text (as one incremental change); returns the new version."""
        old = self.texts[uri]
        lines = old.split("\n")
        end = types.Position(len(lines) - 1, len(lines[-1]))
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                [
                    types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(0, 0), end), text=text
                    )
                ],
            )
        )
        return self.versions[uri]

    def save(self, uri: str) -> None:
        self.paths[uri].write_text(self.texts[uri])
        self.client.text_document_did_save(
            types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri))
        )

    def close(self, uri: str) -> None:
        self.opened.discard(uri)
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
        )

    def files_changed(self, *changes: tuple[Path, types.FileChangeType]) -> None:
        """What an editor's file watcher reports (``workspace/didChangeWatchedFiles``)."""
        self.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                [types.FileEvent(path.as_uri(), kind) for path, kind in changes]
            )
        )

    def configure(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Replace the h2j section and tell the server; returns the section it replaced."""
        previous = dict(self.client.get_configuration(section="h2j") or {})
        self.client.set_configuration(settings, section="h2j")
        self.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None)
        )
        return previous

    async def exported(
        self, uri: str, kernel: str, version: int | None = None, timeout: float = EXPORT_TIMEOUT_S
    ) -> dict[str, Any]:
        """The h2j/exported notification for a kernel (of a version, default the latest)."""
        want = self.versions[uri] if version is None else version

        def found() -> dict[str, Any] | None:
            return next(
                (
                    e
                    for e in self.exports
                    if e["uri"] == uri and e["kernel"] == kernel and e["version"] == want
                ),
                None,
            )

        return await wait_for(found, timeout, f"{kernel} exported at version {want}")

    async def next_export(
        self, uri: str, kernel: str, after: int, timeout: float = EXPORT_TIMEOUT_S
    ) -> dict[str, Any]:
        """The first h2j/exported for a kernel after the first ``after`` notifications."""

        def found() -> dict[str, Any] | None:
            return next(
                (e for e in self.exports[after:] if e["uri"] == uri and e["kernel"] == kernel),
                None,
            )

        return await wait_for(found, timeout, f"{kernel} exported again")

    async def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        if not self.pull:
            return list(self.client.diagnostics.get(uri, []))
        report = await self.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(types.TextDocumentIdentifier(uri))
        )
        assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
        return list(report.items)

    async def command(self, name: str, *arguments: Any) -> Any:
        result = await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(name, list(arguments))
        )
        return _plain(result)

    async def status(self, state: str, timeout: float = EXPORT_TIMEOUT_S) -> dict[str, Any]:
        """Wait until the latest h2j/status has this state."""

        def latest() -> dict[str, Any] | None:
            return (
                self.statuses[-1] if self.statuses and self.statuses[-1]["state"] == state else None
            )

        return await wait_for(latest, timeout, f"status {state!r}")


async def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)


def _plain(value: Any) -> Any:
    """pygls hands custom notifications over as namedtuples: turn them into dicts."""
    if hasattr(value, "_asdict"):
        return {key: _plain(item) for key, item in value._asdict().items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def children(pid: int) -> list[tuple[int, str]]:
    """The live child processes of ``pid`` with their command lines (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # The command name in parentheses may hold spaces; the fields after it do not.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append((int(entry.name), cmdline))
    return found


def worker_pids(server_pid: int) -> list[int]:
    return [pid for pid, cmdline in children(server_pid) if "helion2json.worker" in cmdline]


@asynccontextmanager
async def running_editor(
    workspace: Path,
    capabilities: types.ClientCapabilities = FULL_CAPABILITIES,
    initialization_options: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> AsyncIterator[Editor]:
    client = await ClientServerConfig(SERVER).start()
    if settings is not None:
        client.set_configuration(settings, section="h2j")
    editor = Editor(
        client,
        workspace,
        pull=capabilities.text_document is not None
        and capabilities.text_document.diagnostic is not None,
    )
    editor.initialize_result = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            workspace_folders=[types.WorkspaceFolder(workspace.as_uri(), workspace.name)],
            initialization_options=initialization_options,
        )
    )
    try:
        yield editor
    finally:
        await client.shutdown_session()
        await client.stop()


def new_workspace(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    path = tmp_path_factory.mktemp(name)
    shutil.copy(WORKSPACE / "kernels.py", path / "kernels.py")
    return path
