"""Code actions on a kernel: "Export `<kernel>` to JSON", and the quick fix that adds an
``args(...)`` template to a kernel that has none."""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types

from h2j_lsp.discovery import KernelInfo, args_template
from h2j_lsp.features.commands import EXPORT_KERNEL
from h2j_lsp.features.diagnostics import MISSING_ARGS
from h2j_lsp.features.positions import overlaps
from h2j_lsp.features.report import SOURCE
from h2j_lsp.session import Document, exportable


def code_actions(
    document: Document,
    params: types.CodeActionParams,
    trusted: bool,
    document_changes: bool,
) -> list[types.CodeAction | types.Command]:
    buffer = document.buffer
    start = buffer.span_at(params.range.start)
    end = buffer.span_at(params.range.end)
    only = params.context.only
    actions: list[types.CodeAction | types.Command] = []
    for kernel in document.scan.kernels:
        if not overlaps(kernel.def_span, start, end):
            continue
        if not kernel.examples and not kernel.skip and _wanted(only, types.CodeActionKind.QuickFix):
            actions.append(
                _add_args(document, kernel, params.context.diagnostics, document_changes)
            )
        # A bare command (which clients list with the quick fixes): some clients read any
        # action that has a command as a command, and would drop the rest of a CodeAction.
        # A client asking for particular kinds only (e.g. on save) does not get it.
        if trusted and exportable(kernel) and not only:
            actions.append(
                types.Command(
                    f"Export `{kernel.name}` to JSON",
                    EXPORT_KERNEL,
                    arguments=[document.uri, kernel.name, None],
                )
            )
    return actions


def _wanted(only: Sequence[types.CodeActionKind | str] | None, kind: str) -> bool:
    return not only or any(kind == want or kind.startswith(f"{want}.") for want in only)


def _add_args(
    document: Document,
    kernel: KernelInfo,
    diagnostics: Sequence[types.Diagnostic],
    document_changes: bool,
) -> types.CodeAction:
    buffer = document.buffer
    line = kernel.first_decorator_line
    decorator = buffer.line(line)
    indent = decorator[: len(decorator) - len(decorator.lstrip())]
    at = types.Position(line, 0)
    edit = types.TextEdit(types.Range(at, at), indent + args_template(kernel) + buffer.newline)
    if document_changes:
        workspace_edit = types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    types.OptionalVersionedTextDocumentIdentifier(document.uri, document.version),
                    [edit],
                )
            ]
        )
    else:
        workspace_edit = types.WorkspaceEdit(changes={document.uri: [edit]})
    fixes = [
        diagnostic
        for diagnostic in diagnostics
        if diagnostic.code == MISSING_ARGS
        and diagnostic.source == SOURCE
        and isinstance(diagnostic.data, dict)
        and diagnostic.data.get("kernel") == kernel.name
    ]
    return types.CodeAction(
        title=f"Add example arguments for `{kernel.name}`: {args_template(kernel)}",
        kind=types.CodeActionKind.QuickFix,
        diagnostics=fixes or None,
        is_preferred=True,
        edit=workspace_edit,
    )
