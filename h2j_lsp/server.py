"""The language server: thin LSP handlers over a :class:`~h2j_lsp.session.Session`.

Handlers turn LSP messages into session calls, ask the ``features`` modules for plain data
and convert it with :mod:`h2j_lsp.proto`; they never wait for an export, except the commands
that are asked for one. Open documents live in pygls's workspace only. The server never
imports torch or helion: exports happen in worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import cattrs
from lsprotocol import types
from pygls import uris
from pygls.capabilities import get_capability
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
)
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import JsonRPCProtocol, RPCRequest

from h2j_lsp import __version__, proto
from h2j_lsp.features import commands
from h2j_lsp.features.code_actions import code_actions
from h2j_lsp.features.diagnostics import document_problems
from h2j_lsp.features.golden_check import golden_actions, golden_problems
from h2j_lsp.features.hints import inlay_hints
from h2j_lsp.features.hover import hover
from h2j_lsp.features.lenses import code_lenses
from h2j_lsp.features.symbols import document_symbols
from h2j_lsp.features.verify import verify_answer
from h2j_lsp.session import Document, EditorText, Session
from h2j_lsp.settings import InitOptions
from helion2json.worker.protocol import VerifyReport

if TYPE_CHECKING:
    from pygls.server import ServerErrors

SECTION = "h2j"
STATUS = "h2j/status"
EXPORTED = "h2j/exported"
VERIFIED = "h2j/verified"
# The files whose changes on disk may change an export: the modules kernels import.
WATCHED_FILES = "**/*.py"
# Exports that answer within this long (a cached one, a small kernel) show no progress bar.
PROGRESS_DELAY_S = 0.5

logger = logging.getLogger(__name__)

PARSE_ERROR = types.ErrorCodes.ParseError.value
INVALID_REQUEST = types.ErrorCodes.InvalidRequest.value


@dataclass(frozen=True)
class UnreadableMessage:
    """A JSON-RPC message whose JSON parsed but that pygls could not structure (invalid
    params, a method that is not a string): answered with ``error`` where it was a request."""

    data: dict[str, Any]
    error: JsonRpcException


class H2jProtocol(LanguageServerProtocol):
    """pygls's protocol, made to answer every request and to stay quiet about what editors
    send in their ordinary course.

    pygls structures each message while the JSON is decoded; a request it cannot structure
    (``character: -5``) raised out of its read loop, which showed the user "Error in server"
    and left the request unanswered. Here such a message becomes an
    :class:`UnreadableMessage` and gets the JSON-RPC error reply instead. Edits apply with
    LSP's line breaks (see :func:`proto.apply_change`).
    """

    def structure_message(self, data: dict[str, Any]) -> Any:
        if "jsonrpc" in data and not isinstance(data.get("method", ""), str):
            return UnreadableMessage(data, JsonRpcInvalidRequest("'method' must be a string"))
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            return UnreadableMessage(data, exc)

    def handle_message(self, message: Any) -> None:
        if isinstance(message, UnreadableMessage):
            self._answer_unreadable(message)
        elif getattr(message, "jsonrpc", None) is None:
            # JSON that is no JSON-RPC message: an array, a number, an object without "jsonrpc".
            data = message if isinstance(message, dict) else {}
            self.send_error(_request_id(data), INVALID_REQUEST, "not a JSON-RPC 2.0 message")
        elif self._shutdown and isinstance(message, RPCRequest):
            # pygls drops them unanswered; the protocol asks for this error.
            self.send_error(message.id, INVALID_REQUEST, "the server is shutting down")
        else:
            super().handle_message(message)

    def send_error(self, ident: int | str | None, code: int, message: str) -> None:
        """An error response; ``ident`` ``None`` (sent as ``null``) where no id could be read.

        A plain dict: pygls's converter would leave a ``None`` id out of the message.
        """
        error = {"code": code, "message": message}
        self._send_data({"jsonrpc": JsonRPCProtocol.VERSION, "id": ident, "error": error})

    def _answer_unreadable(self, message: UnreadableMessage) -> None:
        data, error = message.data, message.error
        cause = error.__cause__
        if isinstance(cause, cattrs.BaseValidationError):
            detail = "; ".join(cattrs.transform_error(cause))
        else:
            detail = str(cause or error)
        logger.warning("unreadable message %.200s: %s", json.dumps(data, default=str), detail)
        text = f"{error.message}: {detail}"
        ident = _request_id(data)
        if "method" not in data and ident is not None:
            # A response to one of the server's requests: whoever waits for it gets the error.
            self._handle_response(ident, None, types.ResponseError(error.code, text))
        elif "method" not in data or "id" in data:
            # A request, or nothing recognisable, is answered; a notification cannot be.
            self.send_error(ident, error.code, text)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Iterator[Any]:
        uri = params.text_document.uri
        if unquote(uri) not in self.workspace.text_documents:  # pygls's key
            # VS Code sends a change after closing a document whose edits the user discarded.
            # (pygls would read the file from disk, whatever it is, to apply it to.)
            logger.info("ignoring a change to %s, which is not open", uri)
            return
        document = self.workspace.get_text_document(uri)
        encoding = position_encoding(self.workspace.position_encoding)
        for change in params.content_changes:
            proto.apply_change(document, change, encoding)
        document.version = params.text_document.version
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None


def _request_id(data: dict[str, Any]) -> int | str | None:
    ident = data.get("id")
    return ident if isinstance(ident, (int, str)) and not isinstance(ident, bool) else None


def position_encoding(kind: types.PositionEncodingKind | str | None) -> str:
    """The encoding's value ("utf-16"): str() of the enum would be its name."""
    return str(getattr(kind, "value", kind or types.PositionEncodingKind.Utf16.value))


class H2jServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "h2j-lsp",
            __version__,
            protocol_cls=H2jProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self._session: Session | None = None
        self.pull_diagnostics = False
        self.frontend = EditorFrontend(self)

    protocol: H2jProtocol

    def report_server_error(self, error: Exception, source: ServerErrors) -> None:
        # pygls's read loop reports a body that is not JSON with the source JsonRpcException;
        # that is the client's mistake, answered, not a server error to show the user.
        if source is JsonRpcException and isinstance(error, (ValueError, RecursionError)):
            logger.warning("a message is not JSON: %s", error)
            self.protocol.send_error(None, PARSE_ERROR, f"the message is not JSON: {error}")
            return
        super().report_server_error(error, source)

    @property
    def session(self) -> Session:
        if self._session is None:
            raise JsonRpcInvalidParams("the server is not initialized")
        return self._session

    def capability(self, path: str) -> bool:
        return bool(get_capability(self.client_capabilities, path, False))

    def document(self, uri: str) -> Document | None:
        return self.session.documents.get(uri)

    def buffer(self, document: Document) -> proto.TextBuffer:
        """The document's current text, for positions in the client's encoding."""
        return proto.TextBuffer(document.text, position_encoding(self.workspace.position_encoding))

    # -- diagnostics -------------------------------------------------------------------------

    def publish(self, document: Document) -> None:
        """Push the document's diagnostics, unless the client pulls them (it pulls again by
        itself after each change it sends)."""
        if self.pull_diagnostics:
            return
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=document.uri,
                version=document.version,
                diagnostics=self.diagnostics(document),
            )
        )

    def diagnostics(self, document: Document) -> list[types.Diagnostic]:
        problems = document_problems(document, self.session.trusted) + golden_problems(document)
        buffer = self.buffer(document)
        return [proto.diagnostic(buffer, problem) for problem in problems]

    # -- settings ----------------------------------------------------------------------------

    async def pull_settings(self) -> None:
        """Read every folder's ``h2j`` section (and the global one) from the client."""
        session = self.session
        try:
            if not self.capability("workspace.configuration"):
                return
            folders = list(session.folders.values())
            items = [types.ConfigurationItem(scope_uri=f.uri, section=SECTION) for f in folders]
            items.append(types.ConfigurationItem(section=SECTION))
            answer = await self.workspace_configuration_async(types.ConfigurationParams(items))
            shared = answer[-1] if answer else None
            by_folder = {folder.uri: raw for folder, raw in zip(folders, answer, strict=False)}
            session.apply_settings(shared, by_folder)
        except Exception as exc:  # a client that fails the request keeps the initial settings
            self.frontend.log(f"could not read the h2j settings: {exc}")
        finally:
            session.configured.set()


class EditorFrontend:
    """What the session reports, as LSP messages to the editor."""

    def __init__(self, server: H2jServer) -> None:
        self.server = server

    def text(self, uri: str) -> EditorText:
        document = self.server.workspace.get_text_document(uri)
        return EditorText(document.source, document.version or 0)

    def results_changed(self, document: Document) -> None:
        server = self.server
        server.publish(document)
        if server.pull_diagnostics:
            server.workspace_diagnostic_refresh(None)
        # Lenses and hints show export results too: ask the client to fetch them again.
        if server.capability("workspace.code_lens.refresh_support"):
            server.workspace_code_lens_refresh(None)
        if server.capability("workspace.inlay_hint.refresh_support"):
            server.workspace_inlay_hint_refresh(None)

    def exported(self, document: Document, kernel: str, example: int, ok: bool) -> None:
        self.server.protocol.notify(
            EXPORTED,
            {
                "uri": document.uri,
                "kernel": kernel,
                "example": example,
                "version": document.version,
                "ok": ok,
            },
        )

    def verified(self, document: Document, kernel: str, example: int, report: VerifyReport) -> None:
        answer = verify_answer(report, True, document.version)
        self.server.protocol.notify(
            VERIFIED, {"uri": document.uri, "kernel": kernel, "example": example, **answer}
        )

    def status_changed(self, status: dict[str, str]) -> None:
        self.server.protocol.notify(STATUS, status)

    def show_error(self, message: str) -> None:
        self.server.window_show_message(types.ShowMessageParams(types.MessageType.Error, message))

    def log(self, message: str) -> None:
        self.server.window_log_message(types.LogMessageParams(types.MessageType.Warning, message))

    @contextlib.asynccontextmanager
    async def progress(self, title: str) -> AsyncIterator[Callable[[str], None]]:
        """A work-done progress that appears only once the work has taken a moment."""
        if not self.server.capability("window.work_done_progress"):
            yield lambda message: None
            return
        token = str(uuid.uuid4())
        latest = {"message": ""}
        begun = asyncio.Event()

        async def begin_later() -> None:
            await asyncio.sleep(PROGRESS_DELAY_S)
            try:
                await self.server.work_done_progress.create_async(token)
            except Exception:  # the client refused the token: no progress, same work
                return
            begin = types.WorkDoneProgressBegin(title=title, message=latest["message"] or None)
            self.server.work_done_progress.begin(token, begin)
            begun.set()

        def report(message: str) -> None:
            latest["message"] = message
            if begun.is_set():
                self.server.work_done_progress.report(
                    token, types.WorkDoneProgressReport(message=message)
                )

        starter = asyncio.ensure_future(begin_later())
        try:
            yield report
        finally:
            starter.cancel()
            if begun.is_set():
                self.server.work_done_progress.end(token, types.WorkDoneProgressEnd())


def create_server() -> H2jServer:
    server = H2jServer()
    _register_lifecycle(server)
    _register_documents(server)
    _register_features(server)
    _register_commands(server)
    return server


def _register_lifecycle(server: H2jServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: H2jServer, params: types.InitializeParams) -> None:
        options = InitOptions.parse(params.initialization_options)
        # Pull diagnostics only where the client can also be told to pull again when an
        # export finishes; otherwise push them. Registering the handler here is what makes
        # the capability appear in the initialize result.
        if ls.capability("text_document.diagnostic") and ls.capability(
            "workspace.diagnostics.refresh_support"
        ):
            ls.pull_diagnostics = True
            ls.feature(
                types.TEXT_DOCUMENT_DIAGNOSTIC,
                types.DiagnosticOptions(
                    identifier=SECTION, inter_file_dependencies=False, workspace_diagnostics=False
                ),
            )(_pull_diagnostics)
        session = Session(ls.frontend, options)
        ls._session = session
        folders = params.workspace_folders or []
        if not folders and params.root_uri:
            folders = [types.WorkspaceFolder(params.root_uri, "root")]
        for folder in folders:
            session.set_folder(folder.uri, uris.to_fs_path(folder.uri) or folder.uri)
        for problem in options.problems:
            ls.frontend.log(f"initializationOptions: {problem}")
        # Started before the editor even opens a file: importing torch and helion takes
        # seconds, and overlaps the rest of the start-up this way.
        first = next(iter(session.folders.values()), None)
        session.start_eagerly(options.settings.host(first.path if first else None))

    @server.feature(types.INITIALIZED)
    async def initialized(ls: H2jServer, params: types.InitializedParams) -> None:
        session = ls.session
        if not session.trusted:
            ls.frontend.status_changed(session.current_status())
        if ls.capability("workspace.did_change_configuration.dynamic_registration"):
            registration = types.Registration(
                id=str(uuid.uuid4()),
                method=types.WORKSPACE_DID_CHANGE_CONFIGURATION,
                register_options=types.DidChangeConfigurationRegistrationOptions(section=SECTION),
            )
            try:
                await ls.client_register_capability_async(types.RegistrationParams([registration]))
            except Exception as exc:  # settings changes then only arrive with a restart
                ls.frontend.log(f"could not register for settings changes: {exc}")
        if ls.capability("workspace.did_change_watched_files.dynamic_registration"):
            # Sibling modules that change while closed: their dependents export again.
            registration = types.Registration(
                id=str(uuid.uuid4()),
                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                    watchers=[types.FileSystemWatcher(glob_pattern=WATCHED_FILES)]
                ),
            )
            try:
                await ls.client_register_capability_async(types.RegistrationParams([registration]))
            except Exception as exc:  # then only saves in the editor update dependents
                ls.frontend.log(f"could not watch the workspace's Python files: {exc}")
        await ls.pull_settings()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: H2jServer, params: types.DidChangeConfigurationParams
    ) -> None:
        if ls.capability("workspace.configuration"):
            await ls.pull_settings()
            return
        # A client that cannot be asked sends the settings themselves.
        settings = params.settings
        raw = settings.get(SECTION) if isinstance(settings, dict) else None
        ls.session.apply_settings(raw, {})

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_folders(
        ls: H2jServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        for removed in params.event.removed:
            ls.session.remove_folder(removed.uri)
        for added in params.event.added:
            ls.session.set_folder(added.uri, uris.to_fs_path(added.uri) or added.uri)
        await ls.pull_settings()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: H2jServer, params: types.DidChangeWatchedFilesParams) -> None:
        paths = [uris.to_fs_path(change.uri) for change in params.changes]
        ls.session.files_changed([path for path in paths if path is not None])

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: H2jServer, params: None) -> None:
        if ls._session is not None:
            await ls._session.shutdown()


def _register_documents(server: H2jServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: H2jServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        path = uris.to_fs_path(item.uri)
        if path is None:
            return
        ls.publish(ls.session.open(item.uri, path))

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: H2jServer, params: types.DidChangeTextDocumentParams) -> None:
        document = ls.session.change(params.text_document.uri)
        if document is not None:
            ls.publish(document)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: H2jServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        changed = False
        if params.text is not None and uri in ls.session.documents:
            document = ls.workspace.get_text_document(uri)
            changed = params.text != document.source
            if changed:
                document.apply_change(types.TextDocumentContentChangeWholeDocument(params.text))
        ls.session.save(uri, changed)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: H2jServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.session.close(params.text_document.uri)
        if not ls.pull_diagnostics:
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
            )


def _pull_diagnostics(
    ls: H2jServer, params: types.DocumentDiagnosticParams
) -> types.DocumentDiagnosticReport:
    document = ls.document(params.text_document.uri)
    if document is None:
        return types.RelatedFullDocumentDiagnosticReport(items=[])
    items = ls.diagnostics(document)
    # Golden files change outside the document (an update writes one), so they are part
    # of the result's identity too.
    result_id = f"{document.revision}.{hash(tuple(d.message for d in items)) & 0xFFFFFFFF:x}"
    if params.previous_result_id == result_id:
        return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
    return types.RelatedFullDocumentDiagnosticReport(items=items, result_id=result_id)


def _register_features(server: H2jServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    def lens(ls: H2jServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        document = ls.document(params.text_document.uri)
        if document is None:
            return []
        return proto.code_lenses(ls.buffer(document), code_lenses(document, ls.session.trusted))

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    def hints(ls: H2jServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        document = ls.document(params.text_document.uri)
        if document is None:
            return []
        found = inlay_hints(document, params.range.start.line, params.range.end.line)
        return proto.inlay_hints(ls.buffer(document), found)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: H2jServer, params: types.HoverParams) -> types.Hover | None:
        document = ls.document(params.text_document.uri)
        if document is None:
            return None
        formats = get_capability(ls.client_capabilities, "text_document.hover.content_format", [])
        markdown = not formats or types.MarkupKind.Markdown in formats
        buffer = ls.buffer(document)
        line, col = buffer.span_at(params.position)
        ls.session.focus(document, line)
        text = hover(document, line, col, ls.session.trusted, markdown)
        return None if text is None else proto.hover(buffer, text)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def symbols(
        ls: H2jServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol] | list[types.SymbolInformation]:
        document = ls.document(params.text_document.uri)
        if document is None:
            return []
        hierarchical = ls.capability(
            "text_document.document_symbol.hierarchical_document_symbol_support"
        )
        found = document_symbols(document, ls.session.trusted)
        return proto.document_symbols(ls.buffer(document), document.uri, found, hierarchical)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def actions(
        ls: H2jServer, params: types.CodeActionParams
    ) -> list[types.CodeAction | types.Command]:
        document = ls.document(params.text_document.uri)
        if document is None:
            return []
        document_changes = ls.capability("workspace.workspace_edit.document_changes")
        buffer = ls.buffer(document)
        start = buffer.span_at(params.range.start)
        end = buffer.span_at(params.range.end)
        # Editors ask for code actions wherever the cursor goes.
        ls.session.focus(document, start[0])
        sent = proto.client_diagnostics(params)
        found = [
            *code_actions(
                document, start, end, proto.action_kinds(params), sent, ls.session.trusted
            ),
            *golden_actions(document, sent),
        ]
        version = document.version
        return [
            proto.code_action(item, document.uri, version, params, document_changes)
            for item in found
        ]


def _register_commands(server: H2jServer) -> None:
    @server.command(commands.PREVIEW_JSON)
    async def preview_json(ls: H2jServer, *arguments: Any) -> dict[str, Any]:
        uri, kernel, example = _target(arguments, example_default=0)
        path = uris.to_fs_path(uri)
        return await commands.preview_json(ls.session, uri, path, kernel, example or 0)

    @server.command(commands.PREVIEW_MLIR)
    async def preview_mlir(ls: H2jServer, *arguments: Any) -> dict[str, Any]:
        uri, kernel, example = _target(arguments, example_default=0)
        path = uris.to_fs_path(uri)
        return await commands.preview_mlir(ls.session, uri, path, kernel, example or 0)

    @server.command(commands.EXPORT_KERNEL)
    async def export_kernel(ls: H2jServer, *arguments: Any) -> dict[str, Any]:
        uri, kernel, example = _target(arguments, example_default=None)
        path = uris.to_fs_path(uri)
        outcome = await commands.export_kernel(ls.session, uri, path, kernel, example)
        document = ls.document(uri)
        if outcome["paths"] and document is not None:
            # A written file may be the golden a diagnostic compared against.
            ls.session.goldens_written(document)
        return outcome

    @server.command(commands.VERIFY_KERNEL)
    async def verify_kernel(ls: H2jServer, *arguments: Any) -> dict[str, Any]:
        uri, kernel, example = _target(arguments, example_default=0)
        path = uris.to_fs_path(uri)
        return await commands.verify_kernel(ls.session, uri, path, kernel, example or 0)

    @server.command(commands.RESTART_WORKER)
    async def restart_worker(ls: H2jServer, *arguments: Any) -> None:
        await ls.session.restart_workers()

    @server.command(commands.SHOW_STATUS)
    def show_status(ls: H2jServer, *arguments: Any) -> dict[str, str]:
        return ls.session.current_status()


def _target(arguments: tuple[Any, ...], example_default: int | None) -> tuple[str, str, int | None]:
    try:
        return commands.target(arguments, example_default)
    except commands.CommandError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None
