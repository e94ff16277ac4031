"""Memory of the exporter worker and of the language server over many edits.

    python bench/worker_memory.py [--edits 300]

Prints:

- the worker's resident memory (VmRSS) after a warm-up, after ``--edits`` exports of a kernel
  whose text changes every time (a new comment, so neither the client's cache nor the
  worker's can answer), and the growth in % (target <= 10 %);
- the language server's resident memory after it opened a kernel file and exported 20 edits
  of it, driven over stdio by a raw JSON-RPC client (the worker's memory is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from h2j_lsp.cache import ExportCache
from h2j_lsp.worker_client import HostSettings, WorkerClient
from helion2json.worker.protocol import ExportRequest

ARGS = "torch.randn(16, 16), torch.randn(16, 16)"
KERNEL = """\
import helion
import helion.language as hl
import torch

# revision {constant}


# h2j: args({args})
@helion.kernel(static_shapes=True)
def scaled_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = x[tile_m, tile_n] * 2.0 + y[tile_m, tile_n]
    return out
"""
WARM_UP = 20
SERVER_EDITS = 20
TARGET_GROWTH_PERCENT = 10.0
ANSWER_TIMEOUT_S = 180.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def source(constant: int) -> str:
    return KERNEL.format(constant=constant, args=ARGS)


async def worker_memory(folder: Path, edits: int) -> tuple[float, float]:
    path = folder / "kernel.py"
    path.write_text(source(0))
    # No recycling during the measurement: a fresh worker would hide any growth.
    settings = HostSettings(local_root=str(folder), max_requests=10 * (edits + WARM_UP))
    async with WorkerClient(settings, cache=ExportCache()) as client:
        assert await client.start() is None
        assert client.info is not None
        pid = client.info.pid
        for constant in range(1, edits + WARM_UP + 1):
            if constant == WARM_UP + 1:
                warm = rss_mb(pid)
            text = source(constant)
            result = await client.export(ExportRequest(str(path), text, "scaled_add", ARGS))
            assert result.ok and not result.cached, result.diagnostics
        assert client.info.pid == pid, "the worker was replaced during the measurement"
        return warm, rss_mb(pid)


class RawClient:
    """A minimal LSP client over the server's stdio: requests, notifications, and a reader
    thread that answers the server's own requests with null."""

    def __init__(self, folder: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "h2j_lsp"],
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.process.stdin.flush()

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)["result"]

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def wait(self, wanted: Any) -> dict[str, Any]:
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while True:
            message = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            if "method" in message and "id" in message:
                self.send({"id": message["id"], "result": None})
            elif wanted(message):
                return message

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            length = 0
            while (line := stream.readline().strip()) != b"":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not length:
                return  # the server closed its stdout
            self.messages.put(json.loads(stream.read(length)))

    def close(self) -> None:
        self.request("shutdown", None)
        self.notify("exit", None)
        self.process.wait(30)


def server_memory(folder: Path) -> float:
    path = folder / "kernel.py"
    path.write_text(source(0))
    uri = path.as_uri()
    client = RawClient(folder)
    try:
        client.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": folder.as_uri(),
                "capabilities": {},
                "initializationOptions": {"trusted": True, "settings": {"debounceMs": 50}},
            },
        )
        client.notify("initialized", {})
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": source(0)}},
        )
        for version in range(2, SERVER_EDITS + 2):
            client.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"text": source(version)}],
                },
            )
            client.wait(
                lambda m, v=version: (
                    m.get("method") == "h2j/exported" and m["params"]["version"] == v
                )
            )
        return rss_mb(client.process.pid)
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=300, help="exports of an edited kernel")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="h2j-memory-") as directory:
        folder = Path(directory)
        began = time.perf_counter()
        warm, after = asyncio.run(worker_memory(folder, options.edits))
        growth = 100 * (after - warm) / warm
        verdict = "ok" if growth <= TARGET_GROWTH_PERCENT else "over target"
        print(f"worker RSS after warm-up ({WARM_UP} exports): {warm:.1f} MB")
        print(f"worker RSS after {options.edits} edited re-exports: {after:.1f} MB")
        print(f"worker growth: {growth:+.1f} % (target <= {TARGET_GROWTH_PERCENT:g} %: {verdict})")
        print(f"  ({time.perf_counter() - began:.1f}s)")
        server = server_memory(folder)
        print(f"language server RSS after opening and {SERVER_EDITS} edits: {server:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
