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
- the server process's resident memory after the runs (target <= 80 MB);
- verifying a kernel (the ``h2j.lsp.verify`` command: its JSON run by the reference
  interpreter and compared with the kernel, in the worker) ÷ exporting it (didChange →
  diagnostic), both on the same fresh texts, interleaved. On a CPU-only machine the
  reference is the compiled kernel in Triton's interpreter.
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
KERNEL = """\
import helion
import helion.language as hl
import torch


# h2j: args({args})
@helion.kernel(static_shapes=True)
def matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, k = x.size()
    _, n = y.size()
    out = torch.empty([m, n], dtype=x.dtype, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])
        out[tile_m, tile_n] = acc
    return out
# edit {edit}
"""


def text(edit: int) -> str:
    return KERNEL.format(args=ARGS, edit=edit)


class Editor:
    """A pygls client that timestamps each export's diagnostics."""

    def __init__(self) -> None:
        self.client = LanguageClient("h2j-bench", "1")
        self.version = 0
        self.answered: dict[int, float] = {}
        self.arrived = asyncio.Event()
        self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)(lambda params: None)

        @self.client.feature("h2j/exported")
        def exported(params: Any) -> None:
            # The server publishes a version's diagnostics just before this notification.
            self.answered.setdefault(params.version, time.perf_counter())
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
        self.version = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(path.as_uri(), "python", 1, path.read_text())
            )
        )
        await self._answer(path, 1)
        return self.answered[1] - started

    async def change(self, path: Path, new_text: str) -> float:
        """Seconds from sending a change to the diagnostic of its export."""
        self.version += 1
        version = self.version
        started = time.perf_counter()
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=path.as_uri(), version=version
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
            )
        )
        await self._answer(path, version)
        return self.answered[version] - started

    async def _answer(self, path: Path, version: int) -> None:
        # Woken by the notification itself: polling would take CPU from the server and worker.
        while version not in self.answered:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), 300)
            except asyncio.TimeoutError:
                raise SystemExit(f"no export answered version {version} of {path}") from None

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
        "rss": rss,
        "verify": verify,
    }


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
