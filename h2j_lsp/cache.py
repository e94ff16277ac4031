"""Answer an unchanged kernel's export without asking a worker.

The key is the sha256 of everything one kernel's export can depend on
(:class:`KernelInputs`): the kernel's own source and the line it starts on, the module's
code outside every kernel's ``def`` and outside every ``# h2j:`` directive, the example's
own directives, the request's settings, and the versions (and device) the worker reported at
startup; a verify's key adds its options (reference, tolerances). Editing one kernel
therefore leaves the other kernels' entries valid. Files the
export imported (sibling modules) are checked by content on every hit, so editing one
invalidates the entries that imported it.

Entries live in an in-memory LRU and, when a directory is given (for CI), also as one JSON
file per key, written atomically.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from h2j_lsp.discovery import DIRECTIVE_START, scan_source
from helion2json.worker.protocol import (
    Dependency,
    ExportRequest,
    ExportResult,
    VerifyReport,
    text_sha256,
)

# Failures that the same inputs reproduce exactly. Others depend on things outside the key:
# a sibling module that failed to import, a timeout, the connection.
CACHEABLE_FAILURES = frozenset({"bind-error", "unsupported", "ir-structure", "schema-error"})
_DISK_FORMAT = 1

# An export, or a verify (which the same inputs reproduce too).
Entry = ExportResult | VerifyReport


def cacheable(result: Entry) -> bool:
    return result.ok or all(item.code in CACHEABLE_FAILURES for item in result.diagnostics)


@dataclass(frozen=True)
class KernelInputs:
    """What one example of one kernel exports from, besides the files it imports.

    ``source`` is the kernel's own lines (decorators, signature, body) and ``first_line`` the
    0-based line they start on: exported locations and diagnostics count lines from the top
    of the file. ``module`` is the file without any kernel (decorators, signature, body)
    and without any ``# h2j:`` directive line, so that editing another kernel or another
    kernel's directives changes nothing here. A request whose kernel is not found
    statically (defined by code, or the text does not parse) keeps its whole text in
    ``module``.
    """

    path: str
    kernel: str
    source: str
    first_line: int
    module: str
    args_text: str
    example_index: int
    config_text: str | None
    config_line: int | None
    module_name: str
    locations: bool

    def digest(self, versions: Mapping[str, str]) -> str:
        payload = json.dumps(
            {"inputs": asdict(self), "versions": dict(versions)},
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def kernel_inputs(request: ExportRequest) -> KernelInputs:
    layout = _layout(request.text)
    source, first_line = layout.kernels.get(request.kernel, ("", -1))
    return KernelInputs(
        path=request.path,
        kernel=request.kernel,
        source=source,
        first_line=first_line,
        module=layout.module if first_line >= 0 else request.text,
        args_text=request.args_text,
        example_index=request.example_index,
        config_text=request.config_text,
        config_line=request.config_line,
        module_name=request.module_name,
        locations=request.locations,
    )


@dataclass(frozen=True)
class _Layout:
    """A text split into its kernels' own lines (name -> source, first line) and the rest."""

    kernels: dict[str, tuple[str, int]]
    module: str


# Lines end where Python and LSP end them (not at the form feeds str.splitlines breaks at).
_AFTER_LINE_BREAK = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")


# A file's kernels are exported one request after another from the same text: split it once.
@functools.lru_cache(maxsize=4)
def _layout(text: str) -> _Layout:
    lines = [line for line in _AFTER_LINE_BREAK.split(text) if line]
    scan = scan_source(text)
    kernels: dict[str, tuple[str, int]] = {}
    removed: set[int] = set()
    if scan.syntax_error is None:
        for kernel in scan.kernels:
            span = kernel.def_span
            kernels[kernel.name] = (
                "".join(lines[span.start_line : span.end_line + 1]),
                span.start_line,
            )
            removed.update(range(span.start_line, span.end_line + 1))
    pieces = [
        line
        for number, line in enumerate(lines)
        if number not in removed and not DIRECTIVE_START.match(line.lstrip())
    ]
    return _Layout(kernels, "".join(pieces))


class FileHashes:
    """Content hashes of files, read again only when a file's stat changes."""

    def __init__(self) -> None:
        # path -> (mtime_ns, size, sha256)
        self._stamps: dict[str, tuple[int, int, str]] = {}

    def current(
        self, dependencies: Iterable[Dependency], unsaved: Mapping[str, str] | None = None
    ) -> bool:
        """Whether every file still has the content the dependency recorded: the editor's
        text for a file in ``unsaved`` (path -> text), else the file's."""
        unsaved = unsaved or {}
        return all(
            (text_sha256(unsaved[item.file]) if item.file in unsaved else self.sha256(item.file))
            == item.sha256
            for item in dependencies
        )

    def sha256(self, path: str) -> str | None:
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

    def clear(self) -> None:
        self._stamps.clear()


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
        self._files = FileHashes()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(
        request: ExportRequest,
        versions: Mapping[str, str],
        verify_options: Mapping[str, Any] | None = None,
    ) -> str:
        """An export's key; with ``verify_options``, the key of that export's verify."""
        digest = kernel_inputs(request).digest(versions)
        if verify_options is None:
            return digest
        payload = json.dumps(
            {"export": digest, "verify": dict(verify_options)}, sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str, unsaved: Mapping[str, str] | None = None) -> ExportResult | None:
        """The result kept for ``key`` if the files it imported are as they were (``unsaved``:
        the editor's texts of files with unsaved edits, path -> text)."""
        result = self._get(key, unsaved)
        return result if isinstance(result, ExportResult) else None

    def get_verify(self, key: str, unsaved: Mapping[str, str] | None = None) -> VerifyReport | None:
        """The verify kept for ``key``, under the same conditions as :meth:`get`."""
        result = self._get(key, unsaved)
        return result if isinstance(result, VerifyReport) else None

    def _get(self, key: str, unsaved: Mapping[str, str] | None) -> Entry | None:
        result = self._entries.get(key)
        if result is None:
            result = self._load(key)
        if result is None or not self._files.current(result.dependencies, unsaved):
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
            self._files.sha256(dependency.file)  # stamps it while it is as the export read it
        if self.directory is not None:
            self._store(key, result)

    def clear(self) -> None:
        self._entries.clear()
        self._files.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _remember(self, key: str, result: Entry) -> None:
        self._entries[key] = result
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

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
