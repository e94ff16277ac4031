"""What the language server adds on top of exporting, as an editor sees it.

    python bench/lsp_latency.py [--runs 20]

Prints, in one run on the same kernel:

- warm didChange → diagnostic, p50 and p95, ÷ an in-process ``export_kernel`` (target
  p50 <= 1.3). Each change edits a comment, so that the cache cannot answer; the debounce is
  set to 0 (it is the user's setting, not the server's cost). The in-process export runs a
  freshly executed module each time, as the worker must, interleaved with the changes so
  that both see the same load;
- an unchanged kernel's answer: didChange back to a text already exported → diagnostic
  (target <= 10 ms);
- initialize → first diagnostic of a newly started server ÷ ``python -c "import torch,
  helion"`` (target <= 1.3): the server starts its worker at initialize, so torch and helion
  import while the editor is still starting up;
- an edit in the body of the 8th of 8 kernels → that kernel's diagnostic ÷ the same edit in
  a file holding that kernel alone (target <= 1.3): only the edited kernel exports again;
- a closed sibling module changed on disk (``workspace/didChangeWatchedFiles``) → the
  diagnostic of the kernel that imports it, median ms and ÷ a plain edit of that kernel;
- the server process's resident memory after the runs (target <= 80 MB);
- verifying a kernel (the ``h2j.lsp.verify`` command: its JSON run by the reference
  interpreter and compared with the kernel, in the worker) ÷ exporting it (didChange →
  diagnostic), both on the same fresh texts, interleaved. On a CPU-only machine the
  reference is the compiled kernel in Triton's interpreter.

The pairs of figures compared are measured interleaved, so that both see the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types as pytypes
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ARGS = "torch.randn(64, 32), torch.randn(32, 48)"
# One matmul kernel named NAME whose body the edits change (``+ EDIT.0`` on the output).
BODY = """\

# h2j: args({args})
@helion.kernel(static_shapes=True)
def {name}(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, k = x.size()
    _, n = y.size()
    out = torch.empty([m, n], dtype=x.dtype, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])
        out[tile_m, tile_n] = acc + {edit}.0
    return out
"""
HEAD = "import helion\nimport helion.language as hl\nimport torch\n{imports}\n"
SIBLING = "bench_helpers"


def text(edit: int) -> str:
    """The matmul kernel alone, with ``edit`` in a comment after it."""
    return (
        HEAD.format(imports="") + BODY.format(args=ARGS, name="matmul", edit=0) + f"# edit {edit}\n"
    )


def kernels(count: int, edit: int, imports: str = "") -> str:
    """``count`` kernels k1..kN; ``edit`` changes the body of the last one only."""
    bodies = [
        BODY.format(args=ARGS, name=f"k{n}", edit=edit if n == count else 0)
        for n in range(1, count + 1)
    ]
    return HEAD.format(imports=imports) + "".join(bodies)


class Editor:
    """A pygls client that timestamps each export's diagnostics."""

    def __init__(self) -> None:
        self.client = LanguageClient("h2j-bench", "1")
        self.versions: dict[str, int] = {}
        # (uri, version, kernel, arrival time) of each h2j/exported, in order.
        self.answers: list[tuple[str, int, str, float]] = []
        self.arrived = asyncio.Event()
        self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)(lambda params: None)

        @self.client.feature("h2j/exported")
        def exported(params: Any) -> None:
            # The server publishes a kernel's diagnostics just before this notification.
            self.answers.append((params.uri, params.version, params.kernel, time.perf_counter()))
            self.arrived.set()

    async def start(self, folder: Path, path: Path) -> float:
        """Start the server and open the file; seconds until its first export's diagnostic."""
        started = time.perf_counter()
        await self.client.start_io(sys.executable, "-m", "h2j_lsp")
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                workspace_folders=[types.WorkspaceFolder(folder.as_uri(), "bench")],
                initialization_options={"settings": {"debounceMs": 0}},
            )
        )
        self.client.initialized(types.InitializedParams())
        return await self.open(path) - started

    async def open(self, path: Path, exports: int = 1) -> float:
        """Open the file; the time the diagnostic of its ``exports``-th export arrived."""
        uri = path.as_uri()
        self.versions[uri] = 1
        mark = len(self.answers)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri, "python", 1, path.read_text())
            )
        )
        return await self._answer(uri, 1, mark, exports)

    async def change(self, path: Path, new_text: str, kernel: str | None = None) -> float:
        """Seconds from sending a change to the diagnostic of its first export (of
        ``kernel``, if named)."""
        uri = path.as_uri()
        self.versions[uri] += 1
        version = self.versions[uri]
        mark = len(self.answers)
        started = time.perf_counter()
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
            )
        )
        return await self._answer(uri, version, mark, kernel=kernel) - started

    async def sibling_changed(self, sibling: Path, new_text: str, dependent: Path) -> float:
        """Seconds from a watched-file event for ``sibling`` to ``dependent``'s diagnostic."""
        uri = dependent.as_uri()
        sibling.write_text(new_text)
        mark = len(self.answers)
        started = time.perf_counter()
        self.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                [types.FileEvent(sibling.as_uri(), types.FileChangeType.Changed)]
            )
        )
        return await self._answer(uri, self.versions[uri], mark) - started

    async def _answer(
        self, uri: str, version: int, mark: int, count: int = 1, kernel: str | None = None
    ) -> float:
        """When the ``count``-th export of ``uri`` at ``version`` (of ``kernel``, if named)
        after answer ``mark`` arrived."""
        # Woken by the notification itself: polling would take CPU from the server and worker.
        while True:
            found = [
                at
                for u, v, name, at in self.answers[mark:]
                if (u, v) == (uri, version) and kernel in (None, name)
            ]
            if len(found) >= count:
                return found[count - 1]
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), 300)
            except asyncio.TimeoutError:
                raise SystemExit(f"no export answered version {version} of {uri}") from None

    @property
    def server_rss_mb(self) -> float:
        assert self.client._server is not None
        status = Path(f"/proc/{self.client._server.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


class InProcess:
    """``export_kernel`` in this process, on a freshly executed module each time."""

    def __init__(self, path: Path) -> None:
        from helion2json.core.example_args import evaluate_call_arguments, evaluation_namespace
        from helion2json.core.export import export_kernel

        self._evaluate = evaluate_call_arguments
        self._namespace = evaluation_namespace
        self._export = export_kernel
        self._path = path

    def seconds(self, source: str) -> float:
        # As the worker does for each request: run the module, evaluate the arguments, export.
        self._path.write_text(source)  # helion reads the kernel's source from the file
        started = time.perf_counter()
        module = pytypes.ModuleType("bench_kernel")
        module.__file__ = str(self._path)
        exec(compile(source, str(self._path), "exec"), module.__dict__)
        example = self._evaluate(ARGS, self._namespace(vars(module)))
        self._export(module.matmul, example.args)
        return time.perf_counter() - started


async def verify_cost(editor: Editor, path: Path, edits: range) -> dict[str, Any]:
    """For each edit, a text never exported: seconds from didChange to its diagnostic, then
    seconds of the verify command on it (whose export the worker's cache answers)."""
    exports, verifies, references = [], [], set()
    for edit in edits:
        exports.append(await editor.change(path, text(edit)))
        started = time.perf_counter()
        answer = await editor.client.workspace_execute_command_async(
            types.ExecuteCommandParams("h2j.lsp.verify", [path.as_uri(), "matmul", 0])
        )
        verifies.append(time.perf_counter() - started)
        if answer["status"] != "pass" or answer["cached"]:
            raise SystemExit(
                f"verify did not run and pass: {answer['status']}: {answer['message']}"
            )
        references.add(answer["reference"])
    return {"exports": exports, "verifies": verifies, "references": sorted(references)}


def import_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, helion"], check=True)
    return time.perf_counter() - started


async def measure(runs: int, folder: Path) -> dict[str, Any]:
    path = folder / "bench_kernel.py"
    path.write_text(text(0))
    before = import_seconds()
    editor = Editor()
    first = await editor.start(folder, path)
    local = InProcess(folder / "in_process_kernel.py")
    local.seconds(text(0))  # the first export in this process pays helion's lazy imports
    changes, in_process = [], []
    for run in range(1, runs + 1):
        changes.append(await editor.change(path, text(run)))
        in_process.append(local.seconds(text(run)))
    unchanged = [await editor.change(path, text(run % runs + 1)) for run in range(runs)]
    verify = await verify_cost(editor, path, range(runs + 1, 2 * runs + 1))
    eighth, alone = await last_of_eight(editor, folder, runs)
    sibling, plain = await sibling_changes(editor, folder, runs)
    rss = editor.server_rss_mb
    await editor.stop()
    # Measured on both sides of the rest, as the machine's load may change meanwhile.
    imports = (before + import_seconds()) / 2
    return {
        "imports": imports,
        "first": first,
        "changes": changes,
        "in_process": in_process,
        "unchanged": unchanged,
        "eighth": eighth,
        "alone": alone,
        "sibling": sibling,
        "plain": plain,
        "rss": rss,
        "verify": verify,
    }


async def last_of_eight(editor: Editor, folder: Path, runs: int) -> tuple[list[float], list[float]]:
    """The same edit in the last of 8 kernels and in a file holding that kernel alone."""
    eight, alone = folder / "eight_kernels.py", folder / "one_kernel.py"
    for path, count in ((eight, 8), (alone, 1)):
        path.write_text(kernels(count, 0))
        await editor.open(path, exports=count)
    in_eight, in_alone = [], []
    for run in range(1, runs + 1):
        in_eight.append(await editor.change(eight, kernels(8, run), kernel="k8"))
        in_alone.append(await editor.change(alone, kernels(1, run), kernel="k1"))
    return in_eight, in_alone


async def sibling_changes(
    editor: Editor, folder: Path, runs: int
) -> tuple[list[float], list[float]]:
    """A closed sibling module changed on disk, and a plain edit of the kernel importing it."""
    sibling = folder / f"{SIBLING}.py"
    sibling.write_text("SCALE = 0\n")
    dependent = folder / "dependent_kernel.py"
    imports = f"from {SIBLING} import SCALE\n"
    dependent.write_text(kernels(1, 0, imports))
    await editor.open(dependent)
    from_sibling, plain = [], []
    for run in range(1, runs + 1):
        from_sibling.append(await editor.sibling_changed(sibling, f"SCALE = {run}\n", dependent))
        plain.append(await editor.change(dependent, kernels(1, run, imports)))
    return from_sibling, plain


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="changes per figure (>= 20)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="h2j-lsp-bench-") as temporary:
        figures = asyncio.run(measure(options.runs, Path(temporary)))

    local = statistics.median(figures["in_process"])
    p50 = percentile(figures["changes"], 0.5)
    p95 = percentile(figures["changes"], 0.95)
    unchanged_ms = statistics.median(figures["unchanged"]) * 1000
    start_ratio = figures["first"] / figures["imports"]
    eighth = statistics.median(figures["eighth"])
    alone = statistics.median(figures["alone"])
    sibling = statistics.median(figures["sibling"])
    plain = statistics.median(figures["plain"])
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    print(
        f"didChange -> diagnostic / in-process export: p50 {p50 / local:.2f}, "
        f"p95 {p95 / local:.2f} ({p50 * 1000:.0f} ms, {p95 * 1000:.0f} ms / "
        f"{local * 1000:.0f} ms, {options.runs} changes; target p50 <= 1.3) "
        f"{_verdict(p50 / local <= 1.3)}"
    )
    print(
        f"unchanged kernel, didChange -> diagnostic: {unchanged_ms:.1f} ms "
        f"(median of {options.runs}; target <= 10 ms) {_verdict(unchanged_ms <= 10)}"
    )
    print(
        f"initialize -> first diagnostic / import torch, helion: {start_ratio:.2f} "
        f"({figures['first']:.2f}s / {figures['imports']:.2f}s; target <= 1.3) "
        f"{_verdict(start_ratio <= 1.3)}"
    )
    print(
        f"edit in the 8th of 8 kernels / the same edit in a file holding it alone: "
        f"{eighth / alone:.2f} ({eighth * 1000:.0f} ms / {alone * 1000:.0f} ms, medians of "
        f"{options.runs}; target <= 1.3) {_verdict(eighth / alone <= 1.3)}"
    )
    print(
        f"sibling changed on disk -> dependent's diagnostic: {sibling * 1000:.0f} ms, "
        f"{sibling / plain:.2f} x a plain edit of the dependent ({plain * 1000:.0f} ms; "
        f"medians of {options.runs})"
    )
    print(
        f"server resident memory: {figures['rss']:.0f} MB (target <= 80 MB) "
        f"{_verdict(figures['rss'] <= 80)}"
    )
    verify = figures["verify"]
    verify_s = statistics.median(verify["verifies"])
    export_s = statistics.median(verify["exports"])
    print(
        f"verify / export of the same kernel: {verify_s / export_s:.2f} "
        f"({verify_s * 1000:.0f} ms / {export_s * 1000:.0f} ms, median of {options.runs}; "
        f"reference: {', '.join(verify['references'])})"
    )
    return 0


def _verdict(met: bool) -> str:
    return "[met]" if met else "[MISSED]"


if __name__ == "__main__":
    raise SystemExit(main())
