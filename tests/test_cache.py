"""The export cache: keys, LRU, disk, dependencies; and hits that skip the worker."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from h2j_lsp.cache import ExportCache, cacheable
from h2j_lsp.worker_client import HostSettings, WorkerClient
from helion2json.worker.protocol import (
    Dependency,
    ExportDiagnostic,
    ExportRequest,
    ExportResult,
    failure,
)

ARGS = "torch.randn(8, 8), torch.randn(8, 8)"
VERSIONS = {"torch": "2.13.0", "helion": "1.5.1", "helion2json": "0.1.0", "device": "cpu"}
KernelSource = Callable[..., str]


def request(**changes: object) -> ExportRequest:
    base = ExportRequest("/p/k.py", "text", "kern", ARGS)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def ok_result(
    document: dict[str, object] | None = None, dependencies: tuple[Dependency, ...] = ()
) -> ExportResult:
    return ExportResult(
        True, document or {"version": 1}, (), {"worker": 0.1}, False, "local", dependencies
    )


def test_every_input_changes_the_key() -> None:
    key = ExportCache.key(request(), VERSIONS)
    changes = [
        {"path": "/p/other.py"},
        {"text": "text2"},
        {"kernel": "other"},
        {"args_text": "torch.randn(4, 4)"},
        {"example_index": 1},
        {"module_name": "m"},
        {"locations": False},
    ]
    for change in changes:
        assert ExportCache.key(request(**change), VERSIONS) != key, change
    for name in VERSIONS:
        assert ExportCache.key(request(), {**VERSIONS, name: "other"}) != key, name
    assert ExportCache.key(request(), dict(reversed(VERSIONS.items()))) == key


def test_least_recently_used_entries_go_first() -> None:
    cache = ExportCache(max_entries=2)
    cache.put("a", ok_result({"a": 1}))
    cache.put("b", ok_result({"b": 1}))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", ok_result({"c": 1}))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (3, 1)


def test_only_reproducible_outcomes_are_kept() -> None:
    cache = ExportCache()
    bind_error = ExportResult(False, None, (ExportDiagnostic("no", "bind-error", 3, 0),), {})
    for result in [
        failure("took too long", "timeout"),
        failure("cannot reach", "transport"),
        failure("crashed", "worker-failure"),
        failure("ImportError: sibling", "module-error"),
    ]:
        assert not cacheable(result)
        cache.put(result.diagnostics[0].code, result)
        assert cache.get(result.diagnostics[0].code) is None
    cache.put("bind", bind_error)
    assert cache.get("bind") == bind_error


def test_a_changed_dependency_invalidates_the_entry(tmp_path: Path) -> None:
    helper = tmp_path / "helper.py"
    helper.write_text("A = 1\n")
    digest = hashlib.sha256(helper.read_bytes()).hexdigest()
    cache = ExportCache()
    cache.put("k", ok_result(dependencies=(Dependency(str(helper), digest),)))
    assert cache.get("k") is not None
    helper.write_text("A = 2\n")
    assert cache.get("k") is None
    helper.unlink()
    cache.put("k", ok_result(dependencies=(Dependency(str(helper), digest),)))
    assert cache.get("k") is None


def test_the_disk_cache_survives_the_process_and_ignores_garbage(tmp_path: Path) -> None:
    result = ok_result({"version": 1, "module": {"name": "m", "funcs": []}})
    ExportCache(directory=tmp_path).put("ab" * 32, result)
    stored = list(tmp_path.rglob("*.json"))
    assert [path.name for path in stored] == [f"{'ab' * 32}.json"]
    assert not list(tmp_path.rglob("*.tmp"))
    assert ExportCache(directory=tmp_path).get("ab" * 32) == result

    stored[0].write_text('{"format": 1, "key": "truncat')
    assert ExportCache(directory=tmp_path).get("ab" * 32) is None
    stored[0].write_text(json.dumps({"format": 1, "key": "other", "result": {}}))
    assert ExportCache(directory=tmp_path).get("ab" * 32) is None


# --- with a real worker -------------------------------------------------------------------

on_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cached_worker(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[WorkerClient, ExportCache, Path]]:
    project = tmp_path_factory.mktemp("cached")
    cache = ExportCache(directory=project / ".cache")
    client = WorkerClient(HostSettings(local_root=str(project)), cache=cache)
    assert await client.start() is None
    yield client, cache, project
    await client.stop()


@on_module_loop
async def test_an_unchanged_kernel_is_answered_without_the_worker(
    cached_worker: tuple[WorkerClient, ExportCache, Path], kernel_text: KernelSource
) -> None:
    client, _, project = cached_worker
    asked = ExportRequest(str(project / "k.py"), kernel_text(), "combine", ARGS)
    first = await client.export(asked)
    assert first.ok and not first.cached
    sent, served = client.round_trips, client.requests_served

    second = await client.export(asked)
    assert second.cached
    assert second.document == first.document
    assert (client.round_trips, client.requests_served) == (sent, served)

    edited = dataclasses.replace(asked, text=kernel_text("x[tile_m, tile_n] - y[tile_m, tile_n]"))
    third = await client.export(edited)
    assert not third.cached
    assert client.round_trips == sent + 1


@on_module_loop
async def test_editing_an_imported_sibling_misses_the_cache(
    cached_worker: tuple[WorkerClient, ExportCache, Path], kernel_text: KernelSource
) -> None:
    client, _, project = cached_worker
    (project / "sibling_ops.py").write_text("def combine(a, b):\n    return a + b\n")
    text = kernel_text(
        "sibling_ops.combine(x[tile_m, tile_n], y[tile_m, tile_n])", prelude="import sibling_ops"
    )
    asked = ExportRequest(str(project / "uses_sibling.py"), text, "combine", ARGS)
    assert not (await client.export(asked)).cached
    assert (await client.export(asked)).cached
    (project / "sibling_ops.py").write_text("def combine(a, b):\n    return a * b\n")
    again = await client.export(asked)
    assert not again.cached
    assert again.document is not None
    assert "torch.mul" in json.dumps(again.document)


@on_module_loop
async def test_a_new_client_reads_the_disk_cache(
    cached_worker: tuple[WorkerClient, ExportCache, Path], kernel_text: KernelSource
) -> None:
    client, cache, project = cached_worker
    asked = ExportRequest(str(project / "disk.py"), kernel_text(), "combine", ARGS)
    assert (await client.export(asked)).ok
    assert cache.directory is not None
    fresh = ExportCache(directory=cache.directory)
    assert client.info is not None
    hit = fresh.get(ExportCache.key(asked, client.info.versions()))
    assert hit is not None and hit.ok
