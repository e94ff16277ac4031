"""Faults injected into a real ``h2j-lsp`` (pytest-lsp client) and its real worker.

One server serves the whole module with a short ``timeoutSeconds``, so that hung exports
end quickly; each test works on files of its own. After each fault the server must still
answer, say what went wrong within the timeout plus 2 s, and export the next text.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from fault_support import kernel, line_of
from lsp_editor import EXPORT_TIMEOUT_S, Editor, running_editor, wait_for, worker_pids
from lsprotocol import types

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.fault]

TIMEOUT_S = 3.0
# The brief's promise: a hung or broken export is reported within the timeout plus 2 s.
DEADLINE_S = TIMEOUT_S + 2.0
# An answer to a plain request (symbols, hover) must not wait for any export.
ANSWER_S = 10.0
SETTINGS = {"timeoutSeconds": TIMEOUT_S, "debounceMs": 50}
GOOD = kernel()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Editor]:
    workspace = tmp_path_factory.mktemp("lsp-faults")
    options = {"trusted": True, "settings": SETTINGS}
    async with running_editor(workspace, initialization_options=options, settings=SETTINGS) as ed:
        await ed.status("idle")
        yield ed


@pytest.fixture
def lsp(server: Editor) -> Iterator[Editor]:
    """The shared server; the files a test opened are closed after it."""
    yield server
    for uri in list(server.opened):
        server.close(uri)


async def ready(editor: Editor) -> None:
    """Timed faults start once the worker is idle, so that its start-up is not counted."""
    await editor.status("idle")


async def still_answers(editor: Editor, uri: str) -> list[types.DocumentSymbol]:
    """The server is up: it answers a symbols request for the document promptly."""
    symbols = await asyncio.wait_for(
        editor.client.text_document_document_symbol_async(
            types.DocumentSymbolParams(types.TextDocumentIdentifier(uri))
        ),
        ANSWER_S,
    )
    assert symbols is not None
    return [symbol for symbol in symbols if isinstance(symbol, types.DocumentSymbol)]


async def exports_again(editor: Editor, uri: str) -> None:
    """The next text of the document exports correctly (a restarted worker included)."""
    version = editor.change(uri, GOOD)
    result = await editor.exported(uri, "add", version, timeout=EXPORT_TIMEOUT_S)
    assert result["ok"] is True
    assert [d for d in await editor.diagnostics(uri) if d.severity == 1] == []


async def failure(editor: Editor, uri: str, code: str, timeout: float = DEADLINE_S) -> str:
    """Wait for the kernel's failed export and return the message of its ``code`` diagnostic."""
    result = await editor.exported(uri, "add", timeout=timeout)
    assert result["ok"] is False
    found = [d for d in await editor.diagnostics(uri) if d.code == code]
    assert len(found) == 1, await editor.diagnostics(uri)
    return found[0].message


def open_unsaved(editor: Editor, name: str, text: str) -> str:
    """didOpen of a text that is not on disk (a lone surrogate cannot be saved as UTF-8)."""
    path = editor.workspace / name
    path.write_text(GOOD)
    uri = path.as_uri()
    editor.paths[uri] = path
    editor.versions[uri] = 1
    editor.texts[uri] = text
    editor.opened.add(uri)
    editor.client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
    )
    return uri


async def test_worker_killed_mid_export(lsp: Editor) -> None:
    await ready(lsp)
    started = lsp.workspace / "killed.started"
    text = kernel(
        prelude=f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(30)"
    )
    uri = lsp.open("killed.py", text)
    await wait_for(started.exists, DEADLINE_S, "the module to run")
    [worker] = worker_pids(lsp.server_pid)
    os.kill(worker, signal.SIGKILL)
    message = await failure(lsp, uri, "worker-failure", timeout=2.0)
    assert "SIGKILL" in message
    await still_answers(lsp, uri)
    await exports_again(lsp, uri)


async def test_module_hangs_at_import(lsp: Editor) -> None:
    await ready(lsp)
    uri = lsp.open("hangs.py", kernel(prelude="import time\ntime.sleep(1000)"))
    message = await failure(lsp, uri, "timeout")
    assert f"{TIMEOUT_S:g}" in message
    await still_answers(lsp, uri)
    await exports_again(lsp, uri)


async def test_example_arguments_raise(lsp: Editor) -> None:
    await ready(lsp)
    text = kernel(args="torch.randn(8, 8), 1 / 0")
    uri = lsp.open("args_raise.py", text)
    message = await failure(lsp, uri, "bad-arguments")
    assert "ZeroDivisionError" in message
    [problem] = [d for d in await lsp.diagnostics(uri) if d.code == "bad-arguments"]
    assert problem.range.start.line == line_of(text, "# h2j: args(")
    await still_answers(lsp, uri)
    await exports_again(lsp, uri)


async def test_example_arguments_loop_forever(lsp: Editor) -> None:
    await ready(lsp)
    # iter(int, 1) yields 0 for ever: any() never returns, and uses no memory doing so.
    uri = lsp.open("args_loop.py", kernel(args="torch.randn(8, 8), any(iter(int, 1))"))
    await failure(lsp, uri, "timeout")
    await still_answers(lsp, uri)
    await exports_again(lsp, uri)


async def test_kernel_raises_at_bind(lsp: Editor) -> None:
    await ready(lsp)
    text = kernel(expression="torch.no_such_op(x[tile_m, tile_n])")
    uri = lsp.open("bind_raise.py", text)
    message = await failure(lsp, uri, "bind-error")
    assert "no_such_op" in message
    [problem] = [d for d in await lsp.diagnostics(uri) if d.code == "bind-error"]
    assert problem.range.start.line == line_of(text, "torch.no_such_op")
    await still_answers(lsp, uri)
    await exports_again(lsp, uri)


async def test_syntax_error_exports_nothing_until_fixed(lsp: Editor) -> None:
    uri = lsp.open("syntax.py", GOOD.replace("def add(", "def add((", 1))
    await asyncio.sleep(1.0)
    # Left to the Python tooling: no export, no h2j error, and the server goes on.
    assert not [e for e in lsp.exports if e["uri"] == uri]
    assert [d for d in await lsp.diagnostics(uri) if d.severity == 1] == []
    await still_answers(lsp, uri)
    await exports_again(lsp, uri)


async def test_lone_surrogates_and_odd_unicode(lsp: Editor) -> None:
    await ready(lsp)
    # Python cannot compile a text holding a lone surrogate (it has no UTF-8 form), so the
    # server treats it as a file that does not parse: nothing exported, nothing crashed.
    uri = open_unsaved(lsp, "unicode.py", kernel(prelude="NOTE = '\ud800 \udfff'  # \udbff"))
    await asyncio.sleep(1.0)
    assert not [e for e in lsp.exports if e["uri"] == uri]
    assert await still_answers(lsp, uri) == []
    # Wide, combining, right-to-left, zero-width and BOM characters before the failing
    # line: its diagnostic must still land on it.
    odd = "🙂 e\u0301 \u202e \u200b \ufeff"
    text = kernel(prelude=f"NOTE = {odd!r}  # {odd}", expression=f"torch.no_such_op(x)  # {odd}")
    version = lsp.change(uri, text)
    assert (await lsp.exported(uri, "add", version, timeout=DEADLINE_S))["ok"] is False
    [problem] = [d for d in await lsp.diagnostics(uri) if d.code == "bind-error"]
    assert problem.range.start.line == line_of(text, "torch.no_such_op")
    [symbol] = await still_answers(lsp, uri)
    assert symbol.name == "add"
    await exports_again(lsp, uri)


def big_file() -> str:
    """About 5 MB: 200 kernels, one exported, two without args, the rest skipped."""
    padding = "".join(f"# padding line {i:05d} " + "x" * 80 + "\n" for i in range(250))
    parts = [GOOD]
    for index in range(1, 200):
        directive = "# h2j: skip\n" if index < 198 else ""
        parts.append(
            f"\n\n{directive}@helion.kernel(static_shapes=True)\n"
            f"def k{index}(x: torch.Tensor) -> torch.Tensor:\n    return x\n" + padding
        )
    return "".join(parts)


async def test_five_megabyte_file_with_200_kernels(lsp: Editor) -> None:
    await ready(lsp)
    text = big_file()
    assert len(text.encode()) >= 5_000_000
    began = time.monotonic()
    uri = lsp.open("big.py", text)

    async def missing_args() -> list[types.Diagnostic]:
        return [d for d in await lsp.diagnostics(uri) if d.code == "missing-args"]

    deadline = time.monotonic() + DEADLINE_S
    while len(await missing_args()) != 2:
        assert time.monotonic() < deadline, "no missing-args diagnostics for the big file"
        await asyncio.sleep(0.1)
    symbols = await still_answers(lsp, uri)
    assert len(symbols) == 200
    line = line_of(text, "def k150(")
    hover = await asyncio.wait_for(
        lsp.client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(line, 5))
        ),
        ANSWER_S,
    )
    assert hover is not None and "k150" in str(hover.contents)
    assert time.monotonic() - began < ANSWER_S + DEADLINE_S
    assert (await lsp.exported(uri, "add", timeout=EXPORT_TIMEOUT_S))["ok"] is True


async def test_deeply_nested_directive(lsp: Editor) -> None:
    text = kernel(args="(" * 5000 + "1" + ")" * 5000)
    uri = lsp.open("nested.py", text)
    line = line_of(text, "# h2j: args(")
    deadline = time.monotonic() + DEADLINE_S
    while not [d for d in await lsp.diagnostics(uri) if d.range.start.line == line]:
        assert time.monotonic() < deadline, "no diagnostic on the nested directive"
        await asyncio.sleep(0.1)
    [problem] = [d for d in await lsp.diagnostics(uri) if d.range.start.line == line]
    assert problem.severity == types.DiagnosticSeverity.Error
    await still_answers(lsp, uri)
    await exports_again(lsp, uri)


async def test_user_code_writes_to_stdout_and_stderr(lsp: Editor) -> None:
    await ready(lsp)
    # Text that would corrupt the worker's protocol if it reached its real stdout.
    prelude = (
        "import os, sys\n"
        "print('Content-Length: 2\\r\\n\\r\\n{}')\n"
        "os.write(1, b'Content-Length: 5\\r\\n\\r\\nhello\\n')\n"
        "os.write(2, b'to stderr\\n')\n"
        "print('also to stderr', file=sys.stderr)\n"
        "sys.stdout.flush()"
    )
    uri = lsp.open("noisy.py", kernel(prelude=prelude))
    assert (await lsp.exported(uri, "add", timeout=DEADLINE_S))["ok"] is True
    # The protocol is intact: another text of the noisy module exports too.
    version = lsp.change(uri, kernel(prelude=prelude + "\n# edited"))
    assert (await lsp.exported(uri, "add", version, timeout=DEADLINE_S))["ok"] is True
    await still_answers(lsp, uri)


async def test_hundred_edits_within_a_second(lsp: Editor) -> None:
    await ready(lsp)
    broken = kernel(expression="torch.no_such_op(x[tile_m, tile_n])")

    def edit(number: int) -> str:
        # Each edit moves the failing line, so stale diagnostics would be on the wrong line.
        return "".join(f"# edit {i}\n" for i in range(number)) + broken

    uri = lsp.open("edits.py", edit(0))
    began = time.monotonic()
    for number in range(1, 101):
        lsp.change(uri, edit(number))
        await asyncio.sleep(0.005)
    assert time.monotonic() - began < 1.0
    last = lsp.versions[uri]
    assert (await lsp.exported(uri, "add", last, timeout=DEADLINE_S))["ok"] is False
    await asyncio.sleep(0.5)  # any answer for an older version would arrive by now
    diagnostics = await lsp.diagnostics(uri)
    assert [d.range.start.line for d in diagnostics if d.code == "bind-error"] == [
        line_of(edit(100), "torch.no_such_op")
    ]
    await still_answers(lsp, uri)
