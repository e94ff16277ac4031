"""How much the exporter worker costs over exporting in-process, and what the cache and
``--jobs`` buy.

    python bench/worker_latency.py [--runs 20] [--kernels 40]

Prints, in one run:

- a warm worker's round trip ÷ an in-process ``export_kernel`` (medians; target <= 1.2).
  Both export a freshly executed module each time, as the worker must: a kernel object
  that was bound before would answer from Helion's own cache;
- a cache hit's time in ms (target <= 10 ms);
- ``h2j-lsp --export`` on generated kernel files, ``--jobs 2`` ÷ ``--jobs 1`` throughput
  (target >= 1.7x), measured over the export phase (worker start-up excluded) and end to end.
  This needs two free CPU cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from h2j_lsp.cache import ExportCache
from h2j_lsp.worker_client import HostSettings, WorkerClient
from helion2json.worker.protocol import ExportRequest

ROOT = Path(__file__).resolve().parents[1]

ARGS = "torch.randn(64, 32), torch.randn(32, 48)"
MATMUL = """\
import helion
import helion.language as hl
import torch


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
        out[tile_m, tile_n] = {epilogue}
    return out
"""
EPILOGUES = ("acc", "acc + 1.0", "acc * 2.0", "torch.relu(acc)", "torch.sigmoid(acc)", "acc - 0.5")


def kernel_source(index: int) -> str:
    epilogue = EPILOGUES[index % len(EPILOGUES)]
    return MATMUL.format(args=ARGS, name=f"kernel_{index}", epilogue=epilogue)


class InProcess:
    """``export_kernel`` in this process, on a freshly executed module each time."""

    def __init__(self, path: str) -> None:
        from helion2json.core.example_args import evaluate_call_arguments, evaluation_namespace
        from helion2json.core.export import export_kernel

        self._evaluate = evaluate_call_arguments
        self._namespace = evaluation_namespace
        self._export = export_kernel
        self._path = path
        self._text = kernel_source(0)
        Path(path).write_text(self._text)  # inspect.getsource reads the kernel from the file

    def seconds(self) -> float:
        module = types.ModuleType("bench_kernel")
        module.__file__ = self._path
        exec(compile(self._text, self._path, "exec"), module.__dict__)
        example = self._evaluate(ARGS, self._namespace(vars(module)))
        started = time.perf_counter()
        self._export(module.kernel_0, example.args)
        return time.perf_counter() - started


@dataclass
class Latencies:
    in_process: list[float] = field(default_factory=list)
    round_trips: list[float] = field(default_factory=list)
    worker_exports: list[float] = field(default_factory=list)  # the worker's own export time
    cache_hits: list[float] = field(default_factory=list)


async def latencies(runs: int, path: str) -> Latencies:
    """In-process exports and worker round trips, interleaved so that both see the same load
    on the machine; then cache hits."""
    local = InProcess(path)
    request = ExportRequest(path, kernel_source(0), "kernel_0", ARGS)
    measured = Latencies()
    async with WorkerClient(HostSettings()) as client:
        failure = await client.start()
        if failure is not None:
            raise SystemExit(f"the worker did not start: {failure.diagnostics[0].message}")
        local.seconds()  # the first export in this process pays helion's lazy imports
        for _ in range(runs):
            started = time.perf_counter()
            result = await client.export(request)
            measured.round_trips.append(time.perf_counter() - started)
            assert result.ok, result.diagnostics
            measured.worker_exports.append(result.timings["export"])
            measured.in_process.append(local.seconds())
    async with WorkerClient(HostSettings(), cache=ExportCache()) as client:
        assert (await client.export(request)).ok
        for _ in range(runs * 5):
            started = time.perf_counter()
            result = await client.export(request)
            measured.cache_hits.append(time.perf_counter() - started)
            assert result.cached
    return measured


def export_command(folder: Path, jobs: int, attempt: int) -> dict[str, float]:
    out_dir = folder / f"out-{jobs}-{attempt}"
    started = time.perf_counter()
    command = [sys.executable, "-m", "h2j_lsp.export_cli", "--export", str(folder / "kernels")]
    options = ["--out-dir", str(out_dir), "--jobs", str(jobs), "--format", "json", "--quiet"]
    completed = subprocess.run(
        [*command, *options],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"--export --jobs {jobs} failed:\n{completed.stdout}{completed.stderr}")
    summary = json.loads(completed.stdout)["summary"]
    return {"examples": summary["examples"], "export": summary["export_seconds"], "wall": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="exports per median (>= 20)")
    parser.add_argument("--kernels", type=int, default=40, help="kernel files for --export")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="h2j-bench-") as temporary:
        folder = Path(temporary)
        path = str(folder / "bench_kernel.py")
        measured = asyncio.run(latencies(options.runs, path))
        (folder / "kernels").mkdir()
        for index in range(options.kernels):
            (folder / "kernels" / f"k{index:02d}.py").write_text(kernel_source(index))
        # Alternated and repeated: the faster of two runs of each, against machine noise.
        runs = [export_command(folder, jobs, attempt) for attempt in (0, 1) for jobs in (1, 2)]
        one = min(runs[0::2], key=lambda run: run["export"])
        two = min(runs[1::2], key=lambda run: run["export"])

    round_trip = statistics.median(measured.round_trips)
    in_process = statistics.median(measured.in_process)
    ratio = round_trip / in_process
    hit_ms = statistics.median(measured.cache_hits) * 1000
    phase = one["export"] / two["export"]
    wall = one["wall"] / two["wall"]
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    print(
        f"round trip / in-process export: {ratio:.2f} ({round_trip * 1000:.1f} ms / "
        f"{in_process * 1000:.1f} ms, medians of {options.runs}, of which the worker's own "
        f"export {statistics.median(measured.worker_exports) * 1000:.1f} ms; target <= 1.2) "
        f"{_verdict(ratio <= 1.2)}"
    )
    hits = len(measured.cache_hits)
    print(
        f"cache hit: {hit_ms:.3f} ms (median of {hits}; target <= 10 ms) {_verdict(hit_ms <= 10)}"
    )
    print(
        f"--export on {int(one['examples'])} kernels, --jobs 2 / --jobs 1 throughput: "
        f"{phase:.2f}x over the export phase ({one['export']:.1f}s vs {two['export']:.1f}s; "
        f"target >= 1.7x) {_verdict(phase >= 1.7)}; {wall:.2f}x end to end "
        f"({one['wall']:.1f}s vs {two['wall']:.1f}s, worker start-up included)"
    )
    return 0


def _verdict(met: bool) -> str:
    return "[met]" if met else "[MISSED]"


if __name__ == "__main__":
    raise SystemExit(main())
