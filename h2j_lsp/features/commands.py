"""The server's ``workspace/executeCommand`` commands."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from h2j_lsp.discovery import KernelInfo
from h2j_lsp.features.verify import verify_answer
from h2j_lsp.outputs import output_name, output_path, write_document
from h2j_lsp.session import Document, Session
from helion2json.worker.protocol import ExportResult, VerifyReport

PREVIEW_JSON = "h2j.lsp.previewJson"
PREVIEW_MLIR = "h2j.lsp.previewMlir"
EXPORT_KERNEL = "h2j.lsp.exportKernel"
RESTART_WORKER = "h2j.lsp.restartWorker"
SHOW_STATUS = "h2j.lsp.showStatus"
VERIFY_KERNEL = "h2j.lsp.verify"


class CommandError(ValueError):
    """The command's arguments are wrong (answered as invalid params)."""


def target(arguments: Sequence[Any], example_default: int | None) -> tuple[str, str, int | None]:
    """``[uri, kernelName, exampleIndex]`` with the example optional."""
    if not 2 <= len(arguments) <= 3:
        raise CommandError("expected the arguments [uri, kernelName, exampleIndex]")
    uri, kernel = arguments[0], arguments[1]
    example = arguments[2] if len(arguments) == 3 else example_default
    if not isinstance(uri, str) or not isinstance(kernel, str):
        raise CommandError("uri and kernelName must be strings")
    if example is not None and (not isinstance(example, int) or isinstance(example, bool)):
        raise CommandError("exampleIndex must be an integer or null")
    return uri, kernel, example


async def preview_json(
    session: Session, uri: str, path: str | None, name: str, example: int
) -> dict[str, Any]:
    """The JSON text of one example, as the command line writes it, or why there is none."""
    exported = await _previewed_document(session, uri, path, name, example)
    if isinstance(exported, str):
        return {"ok": False, "text": exported}
    # Imported on first use: it pulls in pydantic, which the server otherwise never needs.
    from helion2json.core.export import to_json_text

    return {"ok": True, "text": to_json_text(exported)}


async def preview_mlir(
    session: Session, uri: str, path: str | None, name: str, example: int
) -> dict[str, Any]:
    """The MLIR of one example's kernel function, as ``h2j-lsp --export --mlir`` writes it
    (no harness), or why there is none: the export's errors or the op the lowering refuses."""
    exported = await _previewed_document(session, uri, path, name, example)
    if isinstance(exported, str):
        return {"ok": False, "text": exported}
    # The lowering reads the JSON document alone (no torch); imported on first use, as it
    # pulls in pydantic, which the server otherwise never needs.
    from helion2json.mlir import LoweringError, lower_document

    try:
        return {"ok": True, "text": lower_document(exported)}
    except LoweringError as exc:
        return {"ok": False, "text": f"kernel {name!r} does not lower to MLIR: {exc}"}


async def _previewed_document(
    session: Session, uri: str, path: str | None, name: str, example: int
) -> dict[str, Any] | str:
    """One example's exported document for a preview, or why there is none."""
    found = _kernel(session, uri, path, name)
    if isinstance(found, str):
        return found
    document, kernel = found
    if not 0 <= example < len(kernel.examples):
        count = len(kernel.examples)
        return f"kernel {name!r} has {count} example(s), not #{example}"
    # A live preview follows the kernel's exports: its kernel goes first after each edit.
    session.focus(document, kernel.def_span.start_line)
    result = await session.export(document, kernel, example)
    if result.ok and result.document is not None:
        return result.document
    return failure_summary(name, result)


async def export_kernel(
    session: Session, uri: str, path: str | None, name: str, example: int | None
) -> dict[str, Any]:
    """Write the kernel's JSON files into the folder's ``outDir``, atomically."""
    found = _kernel(session, uri, path, name)
    if isinstance(found, str):
        return {"ok": False, "paths": [], "message": found}
    document, kernel = found
    folder = session.folder_for(document)
    if folder is None:
        message = "the file is not in a workspace folder; h2j writes only inside the workspace"
        return {"ok": False, "paths": [], "message": message}
    out_dir = folder.settings.out_path(folder.path)
    if not _inside(out_dir, folder.path):
        message = f"outDir {folder.settings.out_dir!r} is outside the workspace folder"
        return {"ok": False, "paths": [], "message": message}
    count = len(kernel.examples)
    indices = range(count) if example is None else [example]
    if not all(0 <= index < count for index in indices):
        message = f"kernel {name!r} has {count} example(s), not #{example}"
        return {"ok": False, "paths": [], "message": message}
    paths: list[str] = []
    failures: list[str] = []
    module = Path(document.path).stem
    for index in indices:
        result = await session.export(document, kernel, index)
        if not result.ok or result.document is None:
            failures.append(failure_summary(name, result))
            continue
        # The headless export's own naming, checks and writing: both write the same files.
        try:
            target = output_path(Path(out_dir), output_name(module, name, index, count))
        except ValueError as exc:
            failures.append(str(exc))
            continue
        problem = write_document(target, result.document)
        if problem is not None:
            failures.append(f"kernel {name!r}: {problem.message}")
            continue
        paths.append(str(target))
    written = ", ".join(os.path.relpath(written, folder.path) for written in paths)
    if failures:
        prefix = f"wrote {written}; " if paths else ""
        return {"ok": False, "paths": paths, "message": prefix + "\n".join(failures)}
    return {"ok": True, "paths": paths, "message": f"exported {name!r} to {written}"}


async def verify_kernel(
    session: Session, uri: str, path: str | None, name: str, example: int
) -> dict[str, Any]:
    """Verify one example: its JSON run by the reference interpreter against the kernel."""
    found = _kernel(session, uri, path, name)
    if isinstance(found, str):
        return verify_answer(VerifyReport("error", found), False, 0)
    document, kernel = found
    if not 0 <= example < len(kernel.examples):
        count = len(kernel.examples)
        message = f"kernel {name!r} has {count} example(s), not #{example}"
        return verify_answer(VerifyReport("error", message), False, document.version)
    version = document.version
    report, current = await session.verify(document, kernel, example)
    return verify_answer(report, current, version)


def failure_summary(name: str, result: ExportResult) -> str:
    lines = [f"kernel {name!r} does not export:"]
    for item in result.diagnostics:
        where = f"line {item.line}: " if item.line is not None else ""
        lines.append(f"  {where}{item.message} [{item.code}]")
    return "\n".join(lines)


def _kernel(
    session: Session, uri: str, path: str | None, name: str
) -> tuple[Document, KernelInfo] | str:
    try:
        document = session.lookup(uri, path)
    except OSError as exc:
        return f"cannot read {exc}"
    if document is None:
        return f"cannot read {uri}"
    kernel = document.kernel(name)
    if kernel is None:
        return f"no helion kernel named {name!r} in {os.path.basename(document.path)}"
    if not kernel.examples:
        return f"kernel {name!r} has no '# h2j: args(...)' example arguments"
    return document, kernel


def _inside(path: str, root: str) -> bool:
    # Resolved, so that a symbolic link inside the folder cannot point the writes elsewhere.
    path, root = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([path, root]) == root
