"""A kernel file's results follow the sibling modules it imports: saved in the editor,
changed on disk while closed, deleted, replaced, imported in a cycle."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from lsp_editor import KERNELS, Editor, running_editor
from lsprotocol import types

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHANGED = types.FileChangeType.Changed
CREATED = types.FileChangeType.Created
DELETED = types.FileChangeType.Deleted
HELPERS = "def scale(x):\n    return x * 2\n"
RENAMED = "def scaled(x):\n    return x * 2\n"


def importing(module: str) -> str:
    """The test kernels, importing ``scale`` from ``module``."""
    return KERNELS.replace("import torch\n", f"import torch\nfrom {module} import scale\n", 1)


def import_line(module: str) -> int:
    return importing(module).split("\n").index(f"from {module} import scale")


async def module_errors(editor: Editor, uri: str) -> list[types.Diagnostic]:
    return [d for d in await editor.diagnostics(uri) if d.code == "module-error"]


async def opened_ok(editor: Editor, module: str) -> str:
    uri = editor.open(f"uses_{module}.py", importing(module))
    assert (await editor.exported(uri, "add", 1))["ok"] is True
    return uri


async def test_an_open_sibling_saved_reexports_its_dependent(editor: Editor) -> None:
    helpers = editor.open("saved_helpers.py", HELPERS)
    uri = await opened_ok(editor, "saved_helpers")

    mark = len(editor.exports)
    editor.change(helpers, RENAMED)
    editor.save(helpers)
    assert (await editor.next_export(uri, "add", mark))["ok"] is False
    [error] = await module_errors(editor, uri)
    assert error.range.start.line == import_line("saved_helpers")
    assert "scale" in error.message

    # Restoring the sibling clears the error, without touching the kernel file.
    mark = len(editor.exports)
    editor.change(helpers, HELPERS)
    editor.save(helpers)
    assert (await editor.next_export(uri, "add", mark))["ok"] is True
    assert not await module_errors(editor, uri)
    assert editor.versions[uri] == 1


async def test_an_open_siblings_unsaved_edit_reexports_its_dependent(editor: Editor) -> None:
    helpers = editor.open("unsaved_helpers.py", HELPERS)
    uri = await opened_ok(editor, "unsaved_helpers")

    # Typing in the sibling (trigger "change"): the worker imports the editor's text.
    mark = len(editor.exports)
    editor.change(helpers, RENAMED)
    assert (await editor.next_export(uri, "add", mark))["ok"] is False
    [error] = await module_errors(editor, uri)
    assert error.range.start.line == import_line("unsaved_helpers")

    # Closed without saving: the saved file applies again, and the error goes.
    mark = len(editor.exports)
    editor.close(helpers)
    assert (await editor.next_export(uri, "add", mark))["ok"] is True
    assert not await module_errors(editor, uri)


async def test_a_closed_sibling_changed_on_disk_reexports_its_dependent(editor: Editor) -> None:
    helpers = editor.workspace / "disk_helpers.py"
    helpers.write_text(HELPERS)
    uri = await opened_ok(editor, "disk_helpers")

    mark = len(editor.exports)
    helpers.write_text(RENAMED)
    editor.files_changed((helpers, CHANGED))
    assert (await editor.next_export(uri, "add", mark))["ok"] is False
    [error] = await module_errors(editor, uri)
    assert error.range.start.line == import_line("disk_helpers")

    mark = len(editor.exports)
    helpers.write_text(HELPERS)
    editor.files_changed((helpers, CHANGED))
    assert (await editor.next_export(uri, "add", mark))["ok"] is True
    assert not await module_errors(editor, uri)


async def test_a_deleted_sibling_and_its_return(editor: Editor) -> None:
    helpers = editor.workspace / "gone_helpers.py"
    helpers.write_text(HELPERS)
    uri = await opened_ok(editor, "gone_helpers")

    mark = len(editor.exports)
    helpers.unlink()
    editor.files_changed((helpers, DELETED))
    assert (await editor.next_export(uri, "add", mark))["ok"] is False
    [error] = await module_errors(editor, uri)
    assert error.range.start.line == import_line("gone_helpers")
    assert "gone_helpers" in error.message

    # The module that did not import is no dependency on record: it comes back all the same.
    mark = len(editor.exports)
    helpers.write_text(HELPERS)
    editor.files_changed((helpers, CREATED))
    assert (await editor.next_export(uri, "add", mark))["ok"] is True
    assert not await module_errors(editor, uri)


@pytest.mark.parametrize("replacement", ["directory", "fifo"])
async def test_a_sibling_replaced_by_what_is_no_module_file(
    editor: Editor, replacement: str
) -> None:
    module = f"{replacement}_helpers"
    helpers = editor.workspace / f"{module}.py"
    helpers.write_text(HELPERS)
    uri = await opened_ok(editor, module)

    mark = len(editor.exports)
    helpers.unlink()
    if replacement == "directory":
        helpers.mkdir()
    else:
        os.mkfifo(helpers)  # neither the server nor the worker may block reading it
    editor.files_changed((helpers, DELETED), (helpers, CREATED))
    assert (await editor.next_export(uri, "add", mark))["ok"] is False
    [error] = await module_errors(editor, uri)
    assert error.range.start.line == import_line(module)

    mark = len(editor.exports)
    helpers.rmdir() if replacement == "directory" else helpers.unlink()
    helpers.write_text(HELPERS)
    editor.files_changed((helpers, CREATED))
    assert (await editor.next_export(uri, "add", mark))["ok"] is True


async def test_a_sibling_that_imports_the_kernel_file_back(editor: Editor) -> None:
    helpers = editor.workspace / "cycle_helpers.py"
    helpers.write_text("import uses_cycle_helpers\n\n" + HELPERS)
    uri = await opened_ok(editor, "cycle_helpers")

    mark = len(editor.exports)
    helpers.write_text("import uses_cycle_helpers\n\n" + RENAMED)
    editor.files_changed((helpers, CHANGED))
    assert (await editor.next_export(uri, "add", mark))["ok"] is False

    # Saving the kernel file (which the sibling imports) runs nothing in a circle.
    mark = len(editor.exports)
    editor.save(uri)
    editor.files_changed((editor.paths[uri], CHANGED))
    await asyncio.sleep(1.0)
    assert [e for e in editor.exports[mark:] if e["uri"] == uri] == []
    assert await module_errors(editor, uri)


async def test_a_file_no_kernel_read_exports_nothing(editor: Editor) -> None:
    helpers = editor.workspace / "read_helpers.py"
    helpers.write_text(HELPERS)
    uri = await opened_ok(editor, "read_helpers")
    unrelated = editor.workspace / "unrelated_module.py"
    unrelated.write_text("VALUE = 1\n")

    mark = len(editor.exports)
    editor.files_changed((unrelated, CREATED), (editor.workspace / "never_was.py", DELETED))
    await asyncio.sleep(1.0)
    assert [e for e in editor.exports[mark:] if e["uri"] == uri] == []


async def test_rapid_sibling_changes_and_edits_end_on_the_current_state(editor: Editor) -> None:
    helpers = editor.workspace / "racing_helpers.py"
    helpers.write_text(HELPERS)
    uri = await opened_ok(editor, "racing_helpers")

    text = importing("racing_helpers")
    for n in range(4):
        helpers.write_text(RENAMED if n % 2 == 0 else HELPERS)
        editor.files_changed((helpers, CHANGED))
        editor.change(uri, text + f"\n# edit {n}\n")
        await asyncio.sleep(0.05 * n)
    helpers.write_text(RENAMED)
    editor.files_changed((helpers, CHANGED))
    latest = editor.change(uri, text + "\n# last edit\n")
    assert (await editor.exported(uri, "add", latest))["ok"] is False
    await asyncio.sleep(1.0)
    # Nothing after the current version's answer, and nothing for a superseded text.
    last = max(i for i, e in enumerate(editor.exports) if e["uri"] == uri)
    assert editor.exports[last]["version"] == latest
    assert editor.exports[last]["ok"] is False
    [error] = await module_errors(editor, uri)
    assert error.range.start.line == import_line("racing_helpers")


async def test_the_watcher_is_registered_where_the_client_can_register_it(
    tmp_path: Path, editor: Editor
) -> None:
    # The shared editor declares no dynamic registration: nothing is asked of it.
    assert not [
        r for r in editor.registrations if r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    ]
    capabilities = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(
                dynamic_registration=True
            )
        )
    )
    async with running_editor(
        tmp_path, capabilities, initialization_options={"trusted": False}
    ) as watching:

        def registered() -> list[types.Registration]:
            return [
                r
                for r in watching.registrations
                if r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
            ]

        for _ in range(250):
            if registered():
                break
            await asyncio.sleep(0.02)
        [registration] = registered()
        options = registration.register_options
        assert isinstance(options, dict)
        assert [w["globPattern"] for w in options["watchers"]] == ["**/*.py"]
