"""The worker's JSON-RPC methods and the bookkeeping the client reads from every answer."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Mapping
from typing import Any

from helion2json.worker.exporter import ModuleExporter
from helion2json.worker.protocol import (
    EXPORT,
    HELLO,
    PROTOCOL_VERSION,
    VERIFY,
    ExportRequest,
    VerifyRequest,
    WorkerInfo,
)
from helion2json.worker.rpc import INVALID_PARAMS, Handler, RpcError


def resident_memory_mb() -> float:
    """This process's resident set size in MiB."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        # No /proc (macOS): the peak is the best available figure; macOS counts bytes.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def worker_info() -> WorkerInfo:
    """The versions this worker runs and its device, for ``h2j/hello``."""
    from helion2json import __version__
    from helion2json.core.example_args import default_device

    return WorkerInfo(
        protocol=PROTOCOL_VERSION,
        python=platform.python_version(),
        torch=importlib.metadata.version("torch"),
        helion=importlib.metadata.version("helion"),
        helion2json=__version__,
        device=default_device(),
        pid=os.getpid(),
    )


class WorkerService:
    """The JSON-RPC handlers, with the bookkeeping the client reads from every answer."""

    def __init__(self, exporter: ModuleExporter, info: WorkerInfo) -> None:
        self._exporter = exporter
        self._info = info
        self.requests = 0

    def hello(self, params: Any) -> dict[str, Any]:
        return self._info.to_wire()

    def export(self, params: Any) -> dict[str, Any]:
        try:
            request = ExportRequest.from_wire(params if isinstance(params, Mapping) else {})
        except ValueError as exc:
            raise RpcError(INVALID_PARAMS, str(exc)) from None
        return self._answer(self._exporter.export(request).to_wire())

    def verify(self, params: Any) -> dict[str, Any]:
        try:
            request = VerifyRequest.from_wire(params if isinstance(params, Mapping) else {})
        except ValueError as exc:
            raise RpcError(INVALID_PARAMS, str(exc)) from None
        return self._answer(self._exporter.verify(request).to_wire())

    def _answer(self, result: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        return {
            "result": result,
            "worker": {"requests": self.requests, "rss_mb": resident_memory_mb()},
        }

    def handlers(self) -> dict[str, Handler]:
        return {HELLO: self.hello, EXPORT: self.export, VERIFY: self.verify}
