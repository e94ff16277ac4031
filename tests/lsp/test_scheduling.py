"""When exports run: on open, after a debounce, superseded by newer versions, from cache."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsp_editor import KERNELS, Editor
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

pytestmark = pytest.mark.asyncio(loop_scope="session")


def slow(seconds: float, text: str = KERNELS) -> str:
    """The kernels with a module that takes ``seconds`` to import."""
    return text.replace("import torch\n", f"import torch\nimport time\ntime.sleep({seconds})\n", 1)


async def test_runs_on_open(editor: Editor) -> None:
    uri = editor.open("on_open.py")
    assert (await editor.exported(uri, "matmul", 1))["ok"] is True
    assert (await editor.exported(uri, "add", 1))["ok"] is True


async def test_debounce_exports_only_the_last_version(editor: Editor) -> None:
    uri = editor.open("debounce.py")
    await editor.exported(uri, "add", 1)
    versions = [editor.change(uri, KERNELS + f"\n# edit {n}\n") for n in range(5)]
    await editor.exported(uri, "add", versions[-1])
    await asyncio.sleep(0.3)
    seen = {e["version"] for e in editor.exports if e["uri"] == uri}
    assert seen == {1, versions[-1]}


async def test_newer_version_supersedes_a_running_export(editor: Editor) -> None:
    uri = editor.open("supersede.py")
    await editor.exported(uri, "add", 1)
    running = editor.change(uri, slow(1.5))
    await editor.status("exporting")
    latest = editor.change(uri, KERNELS + "\n# newer\n")
    result = await editor.exported(uri, "matmul", latest)
    assert result["ok"] is True
    await editor.exported(uri, "add", latest)
    assert not [e for e in editor.exports if e["uri"] == uri and e["version"] == running]


async def test_unchanged_text_answers_from_cache(editor: Editor) -> None:
    uri = editor.open("cache.py", slow(1.0))
    await editor.exported(uri, "add", 1)
    editor.change(uri, KERNELS)
    await editor.exported(uri, "add")
    started = time.monotonic()
    version = editor.change(uri, slow(1.0))
    await editor.exported(uri, "add", version)
    # Two kernels of a module that sleeps 1s each time it runs: only a cache answers this fast.
    assert time.monotonic() - started < 0.4 + 0.8


async def test_cancel_request(editor: Editor) -> None:
    uri = editor.open(
        "cancel.py",
        slow(
            1.0,
            KERNELS.replace("# h2j: args(torch.randn(4", "# h2j: skip\n# h2j: args(torch.randn(4"),
        ),
    )
    params = types.ExecuteCommandParams("h2j.lsp.previewJson", [uri, "add", 0])
    future = editor.client.protocol.send_request(
        types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="cancel-me"
    )
    await asyncio.sleep(0.2)
    editor.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(asyncio.wrap_future(future), 5)


async def test_save_only_trigger(editor: Editor) -> None:
    uri = editor.open("save_only.py")
    await editor.exported(uri, "matmul", 1)
    previous = editor.configure(
        {**editor.client.get_configuration(section="h2j"), "trigger": "save"}
    )
    try:
        await asyncio.sleep(0.5)
        broken = KERNELS.replace("acc = torch.addmm(", "acc = torch.addmm_nope(")
        version = editor.change(uri, broken)
        await asyncio.sleep(1.0)  # more than the debounce
        assert not [e for e in editor.exports if e["uri"] == uri and e["version"] == version]

        editor.save(uri)
        assert (await editor.exported(uri, "matmul", version))["ok"] is False
        assert [d for d in await editor.diagnostics(uri) if d.code == "bind-error"]
    finally:
        editor.configure(previous)
