"""Answer an unchanged kernel's export without asking a worker.

The key is the sha256 of everything an export's outcome depends on: the file's path and
text, the kernel, the example's ``args(...)`` text and index, the module name, whether
locations are on, and the versions (and device) the worker reported at startup; a verify's
key adds its options (reference, tolerances). Files the
export imported (sibling modules) are checked by content on every hit, so editing one
invalidates the entries that imported it.

Entries live in an in-memory LRU and, when a directory is given (for CI), also as one JSON
file per key, written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helion2json.worker.protocol import Dependency, ExportRequest, ExportResult, VerifyReport

# Failures that the same inputs reproduce exactly. Others depend on things outside the key:
# a sibling module that failed to import, a timeout, the connection.
CACHEABLE_FAILURES = frozenset({"bind-error", "unsupported", "ir-structure", "schema-error"})
_DISK_FORMAT = 1

# An export, or a verify (which the same inputs reproduce too).
Entry = ExportResult | VerifyReport


def cacheable(result: Entry) -> bool:
    return result.ok or all(item.code in CACHEABLE_FAILURES for item in result.diagnostics)


class ExportCache:
    """An LRU of export (and verify) results, optionally backed by a directory."""

    def __init__(
        self, max_entries: int = 512, directory: str | os.PathLike[str] | None = None
    ) -> None:
        if max_entries < 1:
            raise ValueError("the cache needs room for at least one entry")
        self.max_entries = max_entries
        self.directory = None if directory is None else Path(directory)
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        # path -> (mtime_ns, size, sha256): rehash a dependency only when its stat changes.
        self._stamps: dict[str, tuple[int, int, str]] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(
        request: ExportRequest,
        versions: Mapping[str, str],
        verify_options: Mapping[str, Any] | None = None,
    ) -> str:
        """An export's key; with ``verify_options``, the key of that export's verify."""
        inputs: dict[str, Any] = {"request": request.to_wire(), "versions": dict(versions)}
        if verify_options is not None:
            inputs["verify"] = dict(verify_options)
        payload = json.dumps(inputs, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str) -> ExportResult | None:
        result = self._get(key)
        return result if isinstance(result, ExportResult) else None

    def get_verify(self, key: str) -> VerifyReport | None:
        result = self._get(key)
        return result if isinstance(result, VerifyReport) else None

    def _get(self, key: str) -> Entry | None:
        result = self._entries.get(key)
        if result is None:
            result = self._load(key)
        if result is None or not self._current(result.dependencies):
            self._entries.pop(key, None)
            self.misses += 1
            return None
        self._remember(key, result)
        self.hits += 1
        return result

    def put(self, key: str, result: Entry) -> None:
        """Keep ``result`` if the same inputs would reproduce it; otherwise do nothing."""
        if not cacheable(result):
            return
        self._remember(key, result)
        for dependency in result.dependencies:
            self._sha256(dependency.file)  # stamps the file while it is as the export read it
        if self.directory is not None:
            self._store(key, result)

    def clear(self) -> None:
        self._entries.clear()
        self._stamps.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _remember(self, key: str, result: Entry) -> None:
        self._entries[key] = result
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def _current(self, dependencies: tuple[Dependency, ...]) -> bool:
        return all(self._sha256(item.file) == item.sha256 for item in dependencies)

    def _sha256(self, path: str) -> str | None:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        stamp = self._stamps.get(path)
        if stamp is not None and stamp[:2] == (stat.st_mtime_ns, stat.st_size):
            return stamp[2]
        # Imported on first use: helion2json pulls in pydantic, which the server needs late.
        from helion2json.sources import read_regular_file

        try:
            # A dependency replaced by a FIFO or a link to a device is read no more than a
            # source is: it is simply no longer the file the result was computed from.
            digest = hashlib.sha256(read_regular_file(path)).hexdigest()
        except OSError:
            return None
        self._stamps[path] = (stat.st_mtime_ns, stat.st_size, digest)
        return digest

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def _load(self, key: str) -> Entry | None:
        if self.directory is None:
            return None
        try:
            data: Any = json.loads(self._path(key).read_text(encoding="utf-8"))
            if data.get("format") != _DISK_FORMAT or data.get("key") != key:
                return None
            if data.get("kind") == "verify":
                return VerifyReport.from_wire(data["result"])
            return ExportResult.from_wire(data["result"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            # A missing, truncated or foreign file is a miss, never an error.
            return None

    def _store(self, key: str, result: Entry) -> None:
        from helion2json.core.export import write_atomically

        stored = {"format": _DISK_FORMAT, "key": key, "result": result.to_wire()}
        if isinstance(result, VerifyReport):
            stored["kind"] = "verify"
        text = json.dumps(stored, sort_keys=True, allow_nan=False)
        # A cache that cannot be written (read-only, full disk) only costs speed.
        with contextlib.suppress(OSError):
            write_atomically(self._path(key), text)
