"""Per-kernel exports: an edit exports again only the kernels it can change, the edited one
first, and each kernel's diagnostics are pushed as soon as its export is done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lsp_editor import Editor, new_workspace, running_editor
from lsprotocol import types

pytestmark = pytest.mark.asyncio(loop_scope="session")

NAMES = [f"k{n}" for n in range(1, 9)]
SUM = "out[tile_m, tile_n] = x[tile_m, tile_n] + y[tile_m, tile_n]"
BROKEN = "out[tile_m, tile_n] = torch.add_nope(x[tile_m, tile_n], y[tile_m, tile_n])"


def kernel(name: str, statement: str = SUM) -> str:
    return f"""\
# h2j: args(torch.randn(8, 8), torch.randn(8, 8))
@helion.kernel(static_shapes=True)
def {name}(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        {statement}
    return out


"""


def module(scale: int = 1, **statements: str) -> str:
    head = f"import helion\nimport helion.language as hl\nimport torch\n\nSCALE = {scale}\n\n\n"
    return head + "".join(kernel(name, statements.get(name, SUM)) for name in NAMES)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pushed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Editor]:
    """An editor that gets diagnostics pushed (publishDiagnostics), with no debounce."""
    capabilities = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(configuration=True)
    )
    workspace = new_workspace(tmp_path_factory, "incremental")
    async with running_editor(workspace, capabilities, settings={"debounceMs": 0}) as editor:
        yield editor


def exports_of(editor: Editor, uri: str, version: int) -> list[dict[str, Any]]:
    return [e for e in editor.exports if e["uri"] == uri and e["version"] == version]


async def all_exported(editor: Editor, uri: str, version: int) -> None:
    for name in NAMES:
        await editor.exported(uri, name, version)


def errors_in(diagnostics: list[types.Diagnostic], text: str, name: str) -> list[types.Diagnostic]:
    """The error diagnostics inside kernel ``name`` of ``text``."""
    lines = text.split("\n")
    start = lines.index(f"def {name}(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:")
    end = start + 6
    return [
        d
        for d in diagnostics
        if d.severity == types.DiagnosticSeverity.Error and start <= d.range.start.line <= end
    ]


async def test_an_edit_in_the_last_kernel_exports_only_it(pushed: Editor) -> None:
    text = module(k2=BROKEN)
    uri = pushed.open("eight.py", text)
    await all_exported(pushed, uri, 1)
    assert errors_in(await pushed.diagnostics(uri), text, "k2")

    edited = module(k2=BROKEN, k8=SUM.replace(" + ", " - "))
    version = pushed.change(uri, edited)
    assert (await pushed.exported(uri, "k8", version))["ok"] is True
    await asyncio.sleep(1.0)
    assert [e["kernel"] for e in exports_of(pushed, uri, version)] == ["k8"]
    # The kernel that was not exported again keeps its error.
    assert errors_in(await pushed.diagnostics(uri), edited, "k2")


async def test_the_edited_kernel_goes_first_and_publishes_at_once(pushed: Editor) -> None:
    uri = pushed.open("ordered.py", module())
    await all_exported(pushed, uri, 1)

    # The module's code changed (every kernel exports again) and k5 was edited.
    edited = module(scale=2, k5=BROKEN)
    version = pushed.change(uri, edited)
    await all_exported(pushed, uri, version)
    order = [e["kernel"] for e in exports_of(pushed, uri, version)]
    assert order == ["k5", "k1", "k2", "k3", "k4", "k6", "k7", "k8"]
    # k5's error was pushed before its h2j/exported, while the other kernels still ran.
    index = next(
        i
        for i, e in enumerate(pushed.exports)
        if e["uri"] == uri and e["version"] == version and e["kernel"] == "k5"
    )
    assert errors_in(pushed.diagnostics_at_export[index], edited, "k5")


async def test_module_code_outside_kernels_exports_every_kernel(pushed: Editor) -> None:
    uri = pushed.open("module_code.py", module())
    await all_exported(pushed, uri, 1)
    version = pushed.change(uri, module(scale=3))
    await all_exported(pushed, uri, version)
    assert [e["kernel"] for e in exports_of(pushed, uri, version)] == NAMES


async def test_a_directive_edit_exports_only_its_kernel(pushed: Editor) -> None:
    text = module()
    uri = pushed.open("directive.py", text)
    await all_exported(pushed, uri, 1)
    # k4's directive is the fourth args(...) line.
    lines = text.split("\n")
    directive = [i for i, line in enumerate(lines) if line.startswith("# h2j: args")][3]
    lines[directive] = "# h2j: args(torch.randn(4, 4), torch.randn(4, 4))"
    version = pushed.change(uri, "\n".join(lines))
    assert (await pushed.exported(uri, "k4", version))["ok"] is True
    await asyncio.sleep(1.0)
    assert [e["kernel"] for e in exports_of(pushed, uri, version)] == ["k4"]
