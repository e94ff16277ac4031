"""The language server's worker, seen from the editor: processes a module leaves behind end
with the worker, and an error raised in a sibling module points at the sibling's line."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsp_editor import KERNELS, Editor, new_workspace, running_editor
from lsprotocol import types
from test_worker import alive
from test_worker_processes import all_end

pytestmark = pytest.mark.asyncio(loop_scope="session")


def leaving_children(pids: Path) -> str:
    """The test kernels, with a module that leaves a ``sleep`` child and a forked child
    sleeping each time it runs; their pids are appended to ``pids``."""
    prelude = (
        "import os, subprocess, time\n"
        f"with open({str(pids)!r}, 'a') as _pids:\n"
        "    _pids.write(f\"{subprocess.Popen(['sleep', '1000']).pid}\\n\")\n"
        "_forked = os.fork()\n"
        "if _forked == 0:\n"
        "    time.sleep(1000)\n"
        "    os._exit(0)\n"
        f"with open({str(pids)!r}, 'a') as _pids:\n"
        '    _pids.write(f"{_forked}\\n")\n'
    )
    return KERNELS.replace("import torch\n", f"import torch\n{prelude}", 1)


def listed(pids: Path) -> list[int]:
    return [int(line) for line in pids.read_text().split()]


async def test_restarting_or_shutting_down_the_server_ends_the_modules_children(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    pids = tmp_path / "children"
    workspace = new_workspace(tmp_path_factory, "leftovers")
    async with running_editor(workspace, settings={}) as editor:
        text = leaving_children(pids)
        uri = editor.open("leaves.py", text)
        assert (await editor.exported(uri, "add"))["ok"] is True
        before = listed(pids)
        assert before and all(alive(pid) for pid in before)

        assert await editor.command("h2j.lsp.restartWorker") is None
        assert await all_end(before)
        # A new text (not a cached one) runs the module in the new worker: children again.
        version = editor.change(uri, text + "\n# edited\n")
        assert (await editor.exported(uri, "add", version))["ok"] is True
        after = listed(pids)[len(before) :]
        assert after and all(alive(pid) for pid in after)
    assert await all_end(after)


async def test_an_error_in_a_sibling_module_points_at_its_line(editor: Editor) -> None:
    helpers = editor.workspace / "broken_helpers.py"
    helpers.write_text("SCALE = 2\n\n\nBROKEN = 1 / 0\n")
    text = KERNELS.replace("import torch\n", "import torch\nfrom broken_helpers import SCALE\n", 1)
    uri = editor.open("uses_broken_helpers.py", text)
    assert (await editor.exported(uri, "add"))["ok"] is False
    [problem] = [d for d in await editor.diagnostics(uri) if d.severity == 1]
    assert problem.range.start.line == text.split("\n").index("from broken_helpers import SCALE")
    assert "broken_helpers.py:4" in problem.message
    assert "ZeroDivisionError" in problem.message
    [related] = problem.related_information or []
    assert related.location.uri == helpers.as_uri()
    assert related.location.range.start == types.Position(3, 0)
