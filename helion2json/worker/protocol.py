"""The messages between the exporter worker and its client (``h2j-lsp``, ``h2j-lsp --export``).

The worker (``python -m helion2json.worker``) speaks JSON-RPC 2.0 over its stdin/stdout with
three methods:

- ``h2j/hello`` (no params) answers :class:`WorkerInfo`'s fields: the versions the worker runs
  and the device that ``DEVICE`` names in example arguments.
- ``h2j/export`` takes an :class:`ExportRequest`'s fields and answers ``{"result": ...,
  "worker": {"requests": N, "rss_mb": M}}``: the :class:`ExportResult` and the worker's own
  bookkeeping, which the client uses to recycle a worker that grew too large.
- ``h2j/verify`` takes a :class:`VerifyRequest`'s fields (an export request and the verify
  options) and answers ``{"result": ..., "worker": ...}`` with a :class:`VerifyReport`.

This module is shared by both sides and needs only the standard library.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

# Bumped whenever a message changes shape: a client refuses a worker of another version
# (e.g. an older helion2json installed on the GPU host) with a clear message.
PROTOCOL_VERSION = 2

HELLO = "h2j/hello"
EXPORT = "h2j/export"
VERIFY = "h2j/verify"

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
        return cls(
            ok=bool(data.get("ok")),
            document=document if isinstance(document, dict) else None,
            **_outcome_fields(data),
        )


def _outcome_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an export's result and a verify's report share, read from the wire."""
    return {
        "diagnostics": tuple(
            ExportDiagnostic.from_wire(item) for item in data.get("diagnostics") or ()
        ),
        "timings": _timings(data),
        "cached": bool(data.get("cached", False)),
        "host": str(data.get("host", "local")),
        "dependencies": _dependencies(data),
    }


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


def _timings(data: Mapping[str, Any]) -> dict[str, float]:
    return {str(key): float(value) for key, value in (data.get("timings") or {}).items()}


def _dependencies(data: Mapping[str, Any]) -> tuple[Dependency, ...]:
    return tuple(
        Dependency(str(item["file"]), str(item["sha256"]))
        for item in data.get("dependencies") or ()
    )


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# ------------------------------------------------------------------ verification

VerifyStatus = Literal["pass", "mismatch", "no-reference", "error"]
VERIFY_STATUSES: tuple[VerifyStatus, ...] = ("pass", "mismatch", "no-reference", "error")


@dataclass(frozen=True)
class VerifyRequest:
    """Verify one example of one kernel: run its JSON in the reference interpreter and
    compare with the kernel (``helion2json.core.verify``).

    ``export`` is the request the kernel's export was made with (same text, example and
    config); ``document`` is that export's document, which the worker interprets instead of
    exporting again. ``reference_text`` is the inside of the kernel's ``# h2j: ref(...)`` and
    ``reference_line`` its 1-based line; ``atol``/``rtol`` override the per-dtype tolerances.
    """

    export: ExportRequest
    document: dict[str, Any] | None = None
    reference_text: str | None = None
    reference_line: int | None = None
    atol: float | None = None
    rtol: float | None = None

    def options(self) -> dict[str, Any]:
        """What a verify's outcome depends on besides the export request (its cache key)."""
        return {"reference_text": self.reference_text, "atol": self.atol, "rtol": self.rtol}

    def to_wire(self) -> dict[str, Any]:
        return {
            "export": self.export.to_wire(),
            "document": self.document,
            "reference_text": self.reference_text,
            "reference_line": self.reference_line,
            "atol": self.atol,
            "rtol": self.rtol,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> VerifyRequest:
        """Check every field's type: the worker must answer a malformed request, not crash."""
        export = data.get("export")
        if not isinstance(export, Mapping):
            raise ValueError("verify request lacks 'export'")
        document = data.get("document")
        if document is not None and not isinstance(document, dict):
            raise ValueError("verify request field 'document' must be an object")
        reference_text = data.get("reference_text")
        if reference_text is not None and not isinstance(reference_text, str):
            raise ValueError("verify request field 'reference_text' must be str")
        reference_line = data.get("reference_line")
        if reference_line is not None and _optional_int(reference_line) is None:
            raise ValueError("verify request field 'reference_line' must be int")
        tolerances = {name: data.get(name) for name in ("atol", "rtol")}
        for name, value in tolerances.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"verify request field {name!r} must be a number >= 0")
        return cls(
            ExportRequest.from_wire(export),
            document,
            reference_text,
            reference_line,
            *(None if value is None else float(value) for value in tolerances.values()),
        )


@dataclass(frozen=True)
class OutputComparison:
    """One compared tensor (``label``: ``output 0``, ``argument out``). Errors that are not
    finite (shapes or dtypes differ: ``message`` says how) travel as ``null``."""

    label: str
    ok: bool
    max_abs_error: float
    max_rel_error: float
    atol: float
    rtol: float
    dtype: str
    message: str | None = None

    def describe(self) -> str:
        """``max abs 6.7e-01, max rel 2.4e+00 (atol 1e-04, rtol 1e-04)``, as verify prints it."""
        if self.message is not None:
            return self.message
        if self.atol == 0 and self.rtol == 0:
            tolerance = "(exact)"
        else:
            tolerance = f"(atol {self.atol:.0e}, rtol {self.rtol:.0e})"
        return f"max abs {self.max_abs_error:.1e}, max rel {self.max_rel_error:.1e} {tolerance}"

    def to_wire(self) -> dict[str, Any]:
        wire = asdict(self)
        for name in ("max_abs_error", "max_rel_error"):
            wire[name] = _finite_or_none(wire[name])
        return wire

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> OutputComparison:
        return cls(
            label=str(data.get("label", "")),
            ok=bool(data.get("ok")),
            max_abs_error=_float_or_inf(data.get("max_abs_error")),
            max_rel_error=_float_or_inf(data.get("max_rel_error")),
            atol=_float_or_inf(data.get("atol")),
            rtol=_float_or_inf(data.get("rtol")),
            dtype=str(data.get("dtype", "?")),
            message=_optional_str(data.get("message")),
        )


@dataclass(frozen=True)
class SkippedReference:
    """A preferred reference that could not run, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    """What verifying one kernel came to.

    ``status`` is ``pass`` only when every compared tensor matched; ``mismatch`` when one did
    not; ``no-reference`` when no reference could run (not a pass); ``error`` when the kernel
    did not load or export, its document did not run, or the worker failed (``diagnostics``
    then say where, as an export's do). ``message`` is the outcome on one line.
    """

    status: VerifyStatus
    message: str
    reference: str | None = None
    outputs: tuple[OutputComparison, ...] = ()
    skipped: tuple[SkippedReference, ...] = ()
    diagnostics: tuple[ExportDiagnostic, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    cached: bool = False
    host: str = "local"
    dependencies: tuple[Dependency, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    def to_wire(self) -> dict[str, Any]:
        wire = asdict(self)
        wire["outputs"] = [output.to_wire() for output in self.outputs]
        return wire

    def outcome(self) -> dict[str, Any]:
        """What a user is shown of the report (the editor's command, CI's JSON output)."""
        return {
            "status": self.status,
            "reference": self.reference,
            "message": self.message,
            "outputs": [output.to_wire() for output in self.outputs],
            "skipped": [asdict(item) for item in self.skipped],
            "cached": self.cached,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> VerifyReport:
        status = data.get("status")
        return cls(
            status=cast(VerifyStatus, status) if status in VERIFY_STATUSES else "error",
            message=str(data.get("message", "")),
            reference=_optional_str(data.get("reference")),
            outputs=tuple(OutputComparison.from_wire(item) for item in data.get("outputs") or ()),
            skipped=tuple(
                SkippedReference(str(item.get("name", "")), str(item.get("reason", "")))
                for item in data.get("skipped") or ()
            ),
            **_outcome_fields(data),
        )


def verify_failure(result: ExportResult) -> VerifyReport:
    """The report of a verify that could not run because its export (or the worker) failed."""
    first = result.diagnostics[0] if result.diagnostics else ExportDiagnostic("", WORKER_FAILURE)
    infrastructure = first.code in INFRASTRUCTURE_CODES
    return VerifyReport(
        "error",
        first.message if infrastructure else f"the kernel does not export: {first.message}",
        diagnostics=result.diagnostics,
        timings=dict(result.timings),
        host=result.host,
        dependencies=result.dependencies,
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _float_or_inf(value: Any) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.inf
    )
