"""Settings per workspace folder (multi-root), read through workspace/configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsp_editor import KERNELS, Editor, new_workspace, wait_for, worker_pids
from lsprotocol import types

pytestmark = pytest.mark.asyncio(loop_scope="session")


def change_folders(editor: Editor, folder: Path, *, add: bool) -> None:
    changed = [types.WorkspaceFolder(folder.as_uri(), folder.name)]
    editor.client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(
            types.WorkspaceFoldersChangeEvent(
                added=changed if add else [], removed=[] if add else changed
            )
        )
    )


async def test_each_folder_has_its_own_settings(
    editor: Editor, tmp_path_factory: pytest.TempPathFactory
) -> None:
    second = new_workspace(tmp_path_factory, "second")
    editor.client.set_configuration(
        {"trigger": "save", "outDir": "exports"}, section="h2j", scope_uri=second.as_uri()
    )
    change_folders(editor, second, add=True)
    try:
        uri = editor.open("multi_root.py", folder=second)
        assert (await editor.exported(uri, "add", 1))["ok"] is True
        # Its own worker: exported locations are relative to the folder.
        assert len(worker_pids(editor.server_pid)) == 2

        # Exports on save only in this folder...
        version = editor.change(uri, KERNELS + "\n# edited\n")
        here = editor.open("multi_root_first.py")
        await editor.exported(here, "add", 1)
        first_version = editor.change(here, KERNELS + "\n# edited\n")
        # ...while the first folder still exports on change.
        await editor.exported(here, "add", first_version)
        assert not [e for e in editor.exports if e["uri"] == uri and e["version"] == version]

        result = await editor.command("h2j.lsp.exportKernel", uri, "add", None)
        assert result["ok"] is True
        assert [Path(p) for p in result["paths"]] == [
            second / "exports" / "multi_root.add.helion.json"
        ]
    finally:
        editor.close(uri)
        change_folders(editor, second, add=False)
    # The second folder's worker is stopped once nothing uses it.
    await wait_for(lambda: len(worker_pids(editor.server_pid)) == 1, 30, "one worker")
