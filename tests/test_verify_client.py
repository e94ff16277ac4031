"""The client side of verify: cache entries of verifies beside exports, and a worker that
takes exports waiting for it before a verify that has not started."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
import pytest_asyncio
from verify_kernels import ADD, NOISY

from h2j_lsp.cache import ExportCache
from h2j_lsp.worker_client import HostSettings, WorkerClient
from helion2json.worker.protocol import (
    ExportDiagnostic,
    ExportRequest,
    ExportResult,
    VerifyReport,
    VerifyRequest,
)

VERSIONS = {"protocol": "1", "helion": "1.0", "device": "cpu"}


def export_request(path: Path, text: str = ADD, kernel: str = "add") -> ExportRequest:
    args = "torch.randn(16)" if kernel == "noisy" else "torch.randn(8, 8), torch.randn(8, 8)"
    return ExportRequest(str(path), text, kernel, args)


def test_a_verify_is_keyed_on_its_export_and_its_options(tmp_path: Path) -> None:
    export = export_request(tmp_path / "k.py")
    plain = VerifyRequest(export)
    exported = ExportCache.key(export, VERSIONS)
    verified = ExportCache.key(export, VERSIONS, plain.options())
    assert verified != exported
    # The document travels with the request but is the export's: not part of the key.
    assert ExportCache.key(export, VERSIONS, VerifyRequest(export, {"v": 1}).options()) == verified
    for options in ({"reference_text": "torch.add"}, {"atol": 1e-3}, {"rtol": 0.5}):
        changed = VerifyRequest(export, **options)
        assert ExportCache.key(export, VERSIONS, changed.options()) != verified, options


def test_verifies_and_exports_share_the_cache_without_mixing(tmp_path: Path) -> None:
    cache = ExportCache(directory=tmp_path)
    report = VerifyReport("mismatch", "output 0 does not match", reference="user reference f")
    cache.put("ab" * 32, report)
    cache.put("cd" * 32, ExportResult(True, {"version": 1}, (), {}))
    assert cache.get_verify("ab" * 32) == report and cache.get("ab" * 32) is None
    assert cache.get("cd" * 32) is not None and cache.get_verify("cd" * 32) is None
    # From the directory, in another process's cache.
    assert ExportCache(directory=tmp_path).get_verify("ab" * 32) == report
    # A verify the worker failed to run says nothing about the kernel: never kept.
    died = VerifyReport("error", "died", diagnostics=(ExportDiagnostic("died", "timeout"),))
    cache.put("ef" * 32, died)
    assert cache.get_verify("ef" * 32) is None


@pytest_asyncio.fixture(loop_scope="function")
async def worker(tmp_path: Path) -> AsyncIterator[WorkerClient]:
    client = WorkerClient(HostSettings(local_root=str(tmp_path)), cache=ExportCache())
    assert await client.start() is None
    yield client
    await client.stop()


@pytest.mark.asyncio(loop_scope="function")
async def test_an_export_goes_before_a_verify_that_has_not_started(
    worker: WorkerClient, tmp_path: Path
) -> None:
    path = tmp_path / "k.py"
    text = ADD + NOISY
    finished: list[str] = []

    async def run(name: str, call: Awaitable[object]) -> None:
        await call
        finished.append(name)

    running = asyncio.ensure_future(
        run("slow verify", worker.verify(VerifyRequest(export_request(path, text, "noisy"))))
    )
    while worker.round_trips == 0:
        await asyncio.sleep(0.01)
    waiting = asyncio.ensure_future(
        run("verify", worker.verify(VerifyRequest(export_request(path, text))))
    )
    await asyncio.sleep(0.05)
    export = asyncio.ensure_future(run("export", worker.export(export_request(path, text))))
    await asyncio.gather(running, waiting, export)
    assert finished == ["slow verify", "export", "verify"]

    sent = worker.round_trips
    again = await worker.verify(VerifyRequest(export_request(path, text)))
    assert again.cached and again.status == "pass"
    assert worker.round_trips == sent
