"""The messages between the exporter worker and its client (``h2j-lsp``, ``h2j-lsp --export``).

The worker (``python -m helion2json.worker``) speaks JSON-RPC 2.0 over its stdin/stdout with
two methods:

- ``h2j/hello`` (no params) answers :class:`WorkerInfo`'s fields: the versions the worker runs
  and the device that ``DEVICE`` names in example arguments.
- ``h2j/export`` takes an :class:`ExportRequest`'s fields and answers ``{"result": ...,
  "worker": {"requests": N, "rss_mb": M}}``: the :class:`ExportResult` and the worker's own
  bookkeeping, which the client uses to recycle a worker that grew too large.

This module is shared by both sides and needs only the standard library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# Bumped whenever a message changes shape: a client refuses a worker of another version
# (e.g. an older helion2json installed on the GPU host) with a clear message.
PROTOCOL_VERSION = 2

HELLO = "h2j/hello"
EXPORT = "h2j/export"

# Diagnostic codes for failures that are not an ExportError's own code.
WORKER_FAILURE = "worker-failure"
TIMEOUT = "timeout"
TRANSPORT = "transport"
MODULE_ERROR = "module-error"
INFRASTRUCTURE_CODES = frozenset({WORKER_FAILURE, TIMEOUT, TRANSPORT})


@dataclass(frozen=True)
class ExportRequest:
    """Export one example of one kernel from the editor's current text of a file.

    ``path`` is the local absolute path of the file (the client maps it to the GPU host's
    path); ``text`` is what the worker executes, unsaved edits included; ``args_text`` is the
    inside of the example's ``args(...)``. ``unsaved`` holds the editor's texts of other
    files (absolute path, text) that differ from what is saved: a module imported from one
    of them runs that text instead of the file.
    """

    path: str
    text: str
    kernel: str
    args_text: str
    example_index: int = 0
    module_name: str = "helion_module"
    locations: bool = True
    # The kernel's ``# h2j: config(...)`` text and its 1-based line, if it has one.
    config_text: str | None = None
    config_line: int | None = None
    unsaved: tuple[tuple[str, str], ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ExportRequest:
        """Check every field's type: the worker must answer a malformed request, not crash."""
        unsaved = data.get("unsaved") or ()
        if not isinstance(unsaved, (list, tuple)) or not all(
            isinstance(pair, (list, tuple))
            and len(pair) == 2
            and all(isinstance(item, str) for item in pair)
            for pair in unsaved
        ):
            raise ValueError("export request field 'unsaved' must be a list of [path, text]")
        values = {name: data.get(name, default) for name, default in _REQUEST_DEFAULTS.items()}
        for name, kind in _REQUEST_TYPES.items():
            value = values[name]
            if value is _REQUIRED:
                raise ValueError(f"export request lacks {name!r}")
            if value is None and name in _OPTIONAL_FIELDS:
                continue
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"export request field {name!r} must be {kind.__name__}")
        return cls(**values, unsaved=tuple((path, text) for path, text in unsaved))


_REQUIRED: Any = object()
_REQUEST_TYPES: dict[str, type] = {
    "path": str,
    "text": str,
    "kernel": str,
    "args_text": str,
    "example_index": int,
    "module_name": str,
    "locations": bool,
    "config_text": str,
    "config_line": int,
}
_OPTIONAL_FIELDS = frozenset({"config_text", "config_line"})
_REQUEST_DEFAULTS: dict[str, Any] = {
    "path": _REQUIRED,
    "text": _REQUIRED,
    "kernel": _REQUIRED,
    "args_text": _REQUIRED,
    "example_index": 0,
    "module_name": "helion_module",
    "locations": True,
    "config_text": None,
    "config_line": None,
}


@dataclass(frozen=True)
class RelatedLocation:
    """A line in another file that explains a diagnostic: ``file`` a path, ``line`` 1-based,
    ``col`` 0-based in UTF-8 bytes where known."""

    file: str
    line: int
    col: int | None = None

    @classmethod
    def from_wire(cls, data: Any) -> RelatedLocation | None:
        if not isinstance(data, Mapping):
            return None
        file, line = _optional_str(data.get("file")), _optional_int(data.get("line"))
        if file is None or line is None:
            return None
        return cls(file, line, _optional_int(data.get("col")))


@dataclass(frozen=True)
class ExportDiagnostic:
    """Why an export failed, placed in the source where that is known.

    ``line`` is 1-based and ``col`` 0-based, both in ``file``; ``file`` is ``None`` for the
    request's own file, else a local path (e.g. a sibling module that raised). A problem
    inside the example arguments themselves has no line: ``args_col`` is then the 0-based
    column into the request's ``args_text`` where one is known. ``related`` is the deepest
    line of the user's other files in the traceback, where the error was raised (e.g. in a
    sibling module that the request's file imports); a worker before it sent none.
    """

    message: str
    code: str
    line: int | None = None
    col: int | None = None
    file: str | None = None
    op: str | None = None
    args_col: int | None = None
    related: RelatedLocation | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ExportDiagnostic:
        return cls(
            message=str(data.get("message", "")),
            code=str(data.get("code", WORKER_FAILURE)),
            line=_optional_int(data.get("line")),
            col=_optional_int(data.get("col")),
            file=_optional_str(data.get("file")),
            op=_optional_str(data.get("op")),
            args_col=_optional_int(data.get("args_col")),
            related=RelatedLocation.from_wire(data.get("related")),
        )


@dataclass(frozen=True)
class Dependency:
    """A module file the export imported (a sibling module), with its content's sha256.

    The cache checks these so that editing a sibling module invalidates the exports that
    imported it.
    """

    file: str
    sha256: str


@dataclass(frozen=True)
class ExportResult:
    """The document on success, else the diagnostics; ``timings`` in seconds.

    Timing keys: ``exec`` (running the module text), ``arguments`` (evaluating the example
    arguments), ``export`` (bind, translate, validate), ``worker`` (all of the worker's
    time) and, set by the client, ``round_trip``.
    """

    ok: bool
    document: dict[str, Any] | None
    diagnostics: tuple[ExportDiagnostic, ...]
    timings: dict[str, float]
    cached: bool = False
    host: str = "local"
    dependencies: tuple[Dependency, ...] = field(default=())

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ExportResult:
        document = data.get("document")
        timings = data.get("timings") or {}
        return cls(
            ok=bool(data.get("ok")),
            document=document if isinstance(document, dict) else None,
            diagnostics=tuple(
                ExportDiagnostic.from_wire(item) for item in data.get("diagnostics") or ()
            ),
            timings={str(key): float(value) for key, value in timings.items()},
            cached=bool(data.get("cached", False)),
            host=str(data.get("host", "local")),
            dependencies=tuple(
                Dependency(str(item["file"]), str(item["sha256"]))
                for item in data.get("dependencies") or ()
            ),
        )


def text_sha256(text: str) -> str:
    """The content hash of an editor's text, as a :class:`Dependency` on it records it."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def failure(
    message: str, code: str, *, host: str = "local", timings: Mapping[str, float] | None = None
) -> ExportResult:
    """A failed result with one diagnostic that has no source position."""
    return ExportResult(
        ok=False,
        document=None,
        diagnostics=(ExportDiagnostic(message, code),),
        timings=dict(timings or {}),
        host=host,
    )


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker reports at startup; the cache keys on it."""

    protocol: int
    python: str
    torch: str
    helion: str
    helion2json: str
    device: str
    pid: int

    def versions(self) -> dict[str, str]:
        """Everything an export's output can depend on besides the request."""
        return {
            "protocol": str(self.protocol),
            "python": self.python,
            "torch": self.torch,
            "helion": self.helion,
            "helion2json": self.helion2json,
            "device": self.device,
        }

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> WorkerInfo:
        return cls(
            protocol=int(data.get("protocol", 0)),
            python=str(data.get("python", "?")),
            torch=str(data.get("torch", "?")),
            helion=str(data.get("helion", "?")),
            helion2json=str(data.get("helion2json", "?")),
            device=str(data.get("device", "?")),
            pid=int(data.get("pid", 0)),
        )


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
