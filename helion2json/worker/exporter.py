"""Executes the editor's text of a file as a fresh module and exports one of its kernels.

torch and helion are imported once, when the :class:`ModuleExporter` is made; each request
then binds one kernel on one example and answers the JSON document or diagnostics placed on
source lines.

Nothing a request does may change a later answer: modules the request imported from the
user's files are forgotten afterwards (an edited sibling module is read again next time), and
``sys.path``, the working directory and ``linecache`` are restored.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import logging
import os
import sys
import sysconfig
import tempfile
import time
import traceback
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from helion2json.core.errors import ArgumentError, ExportError, SourceLocation, one_line
from helion2json.worker.protocol import (
    MODULE_ERROR,
    Dependency,
    ExportDiagnostic,
    ExportRequest,
    ExportResult,
    OutputComparison,
    RelatedLocation,
    SkippedReference,
    VerifyReport,
    VerifyRequest,
    text_sha256,
)

if TYPE_CHECKING:
    from helion2json.core.example_args import ExampleArgs
    from helion2json.core.verify import Reference, VerifyResult

logger = logging.getLogger("helion2json.worker")

_ARGS_FILENAME = "<h2j args>"
# A verify whose interpreter or reference failed in a way verify itself does not report.
VERIFY_ERROR = "verify-error"

# Kernels bound at start-up, so that helion's and torch's first-use costs (lazy imports,
# lowerings registered on first use: ~0.3 s for some ops) are paid before the first request.
# They cover what kernels commonly use: a device loop with a matmul, pointwise math with
# tensors and scalars, dtype casts and row reductions.
_WARM_UP_SOURCE = """\
import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, k = x.size()
    _, n = y.size()
    out = torch.empty([m, n], dtype=x.dtype, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])
        out[tile_m, tile_n] = acc + 1.0
    return out


@helion.kernel(static_shapes=True)
def pointwise(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        a = x[tile_m, tile_n]
        b = y[tile_m, tile_n].to(torch.float16).to(torch.float32)
        c = torch.sigmoid(a) + torch.relu(b) * torch.tanh(a) - torch.exp(a) / torch.sqrt(b.abs())
        out[tile_m, tile_n] = torch.maximum(c * 2.0 - 0.5, a) / 3.0
    return out


@helion.kernel(static_shapes=True)
def softmax(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        row = x[tile_m, :]
        numerator = torch.exp(row - torch.amax(row, dim=-1, keepdim=True))
        out[tile_m, :] = numerator / torch.sum(numerator, dim=-1, keepdim=True)
    return out
"""
_WARM_UP_EXAMPLES = {
    "matmul": "torch.randn(8, 16), torch.randn(16, 8)",
    "pointwise": "torch.randn(8, 16), torch.randn(8, 16)",
    "softmax": "torch.randn(8, 16)",
}


class _Failure(Exception):
    """Ends a request early with one diagnostic."""

    def __init__(self, diagnostic: ExportDiagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class _Loaded:
    """A request's module, executed, with its kernel, example and config."""

    module: types.ModuleType
    kernel: Any
    example: ExampleArgs
    config: Any
    config_location: SourceLocation | None


@dataclass
class _Scope:
    """What one request changed in the interpreter, to undo it afterwards."""

    path: str
    modules: frozenset[str]
    sys_path: list[str]
    cwd: str
    dependencies: list[Dependency] = field(default_factory=list)


class ModuleExporter:
    """Executes request texts as modules and exports their kernels."""

    def __init__(self) -> None:
        # The heavy imports happen here, once per worker, and before any request: modules
        # first imported while a request runs may be forgotten after it.
        from helion2json.core.capture.helion_ir import check_helion_version

        check_helion_version()
        import helion  # noqa: F401
        import torch  # noqa: F401

        from helion2json.core import capture, example_args, export  # noqa: F401

        self._installed = _installation_roots()
        # Exported locations are relative to the directory the worker started in.
        self._root = os.getcwd()
        self._tracebacks = _Tracebacks(self._root, (*self._installed, _PACKAGE_ROOT))

    def export(self, request: ExportRequest) -> ExportResult:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        document: dict[str, Any] | None = None
        diagnostics: tuple[ExportDiagnostic, ...] = ()
        with self._scope(request) as scope:
            try:
                document = self._export(request, timings)
            except _Failure as failure:
                diagnostics = (failure.diagnostic,)
        timings["worker"] = time.perf_counter() - started
        return ExportResult(
            document is not None,
            document,
            diagnostics,
            timings,
            dependencies=tuple(scope.dependencies),
        )

    def warm_up(self) -> None:
        """Export small kernels once so that first-use costs do not slow the first requests."""
        path = os.path.join(tempfile.gettempdir(), "h2j_worker_warm_up.py")
        for kernel, args_text in _WARM_UP_EXAMPLES.items():
            result = self.export(ExportRequest(path, _WARM_UP_SOURCE, kernel, args_text))
            if not result.ok:
                logger.info(
                    "warm-up export of %s failed: %s", kernel, result.diagnostics[0].message
                )
        _never_use_bytecode_caches()
        # torch and helion leave ~700k long-lived objects; a full collection that walks them
        # all stalls a request by ~0.3 s now and then. Frozen, they are never walked again.
        gc.collect()
        gc.freeze()

    @contextmanager
    def _scope(self, request: ExportRequest) -> Iterator[_Scope]:
        path = os.path.abspath(request.path)
        scope = _Scope(path, frozenset(sys.modules), list(sys.path), os.getcwd())
        lines = request.text.splitlines(keepends=True)
        # mtime None: linecache.checkcache keeps the entry, so helion's inspect.getsource sees
        # the editor's text even where the file on disk differs or does not exist.
        linecache.cache[path] = (len(request.text), None, lines, path)
        sys.path.insert(0, os.path.dirname(path))
        # A sibling file created since the last request must be found.
        importlib.invalidate_caches()
        unsaved = _UnsavedFiles(
            {os.path.abspath(file): text for file, text in request.unsaved}, exclude=path
        )
        sys.meta_path.insert(0, unsaved)
        try:
            yield scope
        finally:
            sys.meta_path.remove(unsaved)
            sys.stdout.flush()
            sys.stderr.flush()
            os.chdir(scope.cwd)
            sys.path[:] = scope.sys_path
            linecache.cache.pop(path, None)
            for shown in unsaved.shown:
                linecache.cache.pop(shown, None)
            scope.dependencies.extend(
                dependency
                for dependency in self._forget_user_modules(scope.modules, unsaved.texts)
                if dependency.file != path
            )

    def _forget_user_modules(
        self, before: frozenset[str], unsaved: dict[str, str]
    ) -> Iterator[Dependency]:
        """Drop the modules this request imported from the user's files; yield their files.

        Installed packages and the parts of already imported packages stay: re-importing
        torch's or helion's lazily imported submodules would make duplicate classes that
        break isinstance checks, and C extensions cannot be loaded twice.
        """
        # A copy first: a thread the user's code started may still be importing.
        for name in [name for name in list(sys.modules) if name not in before]:
            location = _module_file(sys.modules.get(name))
            if name.partition(".")[0] in before or (
                location is not None and _is_under(location, self._installed)
            ):
                continue
            sys.modules.pop(name, None)
            if location is None:
                continue
            file = os.path.abspath(location)
            if file in unsaved:
                yield Dependency(file, text_sha256(unsaved[file]))
            elif os.path.isfile(location):
                yield Dependency(file, _sha256(location))

    def _load(self, request: ExportRequest, timings: dict[str, float]) -> _Loaded:
        """Execute the text as a module; its kernel, example arguments and config directive."""
        path = os.path.abspath(request.path)
        tracebacks = self._tracebacks
        with _timed(timings, "exec"):
            module = _execute(request.text, path, tracebacks)
        kernel = module.__dict__.get(request.kernel)
        if kernel is None:
            raise _Failure(
                ExportDiagnostic(
                    f"the module defines no {request.kernel!r} at module level", MODULE_ERROR
                )
            )
        with _timed(timings, "arguments"):
            example = _evaluate_arguments(request.args_text, module, path, tracebacks)
        try:
            config, config_location = _directive_config(request, module, path)
        except ExportError as exc:
            raise _Failure(_export_error(exc, path, self._root)) from None
        return _Loaded(module, kernel, example, config, config_location)

    def _export(self, request: ExportRequest, timings: dict[str, float]) -> dict[str, Any]:
        return self._export_loaded(request, self._load(request, timings), timings)

    def _export_loaded(
        self, request: ExportRequest, loaded: _Loaded, timings: dict[str, float]
    ) -> dict[str, Any]:
        from helion2json.core.export import export_kernel

        path = os.path.abspath(request.path)
        with _timed(timings, "export"):
            try:
                return export_kernel(
                    loaded.kernel,
                    loaded.example.args,
                    example_kwargs=loaded.example.kwargs,
                    module_name=request.module_name,
                    locations=request.locations,
                    config=loaded.config,
                    config_location=loaded.config_location,
                )
            except ExportError as exc:
                raise _Failure(_export_error(exc, path, self._root)) from None
            except Exception as exc:
                raised = self._tracebacks.raised(exc, path)
                raise _Failure(
                    raised.diagnostic(f"internal exporter error: {one_line(exc)}", ExportError.code)
                ) from None

    def verify(self, request: VerifyRequest) -> VerifyReport:
        """Interpret the kernel's JSON (the request's document, else a fresh export) on its
        example arguments and compare with the first reference that runs."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        report: VerifyReport
        with self._scope(request.export) as scope:
            try:
                report = self._verify(request, timings)
            except _Failure as failure:
                found = failure.diagnostic
                report = VerifyReport(
                    "error", f"could not verify: {found.message}", diagnostics=(found,)
                )
        timings["worker"] = time.perf_counter() - started
        return replace(report, timings=timings, dependencies=tuple(scope.dependencies))

    def _verify(self, request: VerifyRequest, timings: dict[str, float]) -> VerifyReport:
        from helion2json.core.verify import verify_kernel

        loaded = self._load(request.export, timings)
        document = request.document
        if document is None:
            document = self._export_loaded(request.export, loaded, timings)
        reference = _directive_reference(request, loaded.module)
        with _timed(timings, "verify"):
            try:
                result = verify_kernel(
                    loaded.kernel,
                    loaded.example.args,
                    loaded.example.kwargs,
                    reference=reference,
                    config=loaded.config,
                    atol=request.atol,
                    rtol=request.rtol,
                    document=document,
                )
            # The interpreter failed unexpectedly, or user code (the kernel, a reference)
            # raised what verify does not catch.
            except (Exception, SystemExit) as exc:
                path = os.path.abspath(request.export.path)
                raised = self._tracebacks.raised(exc, path)
                message = f"verification failed: {one_line(exc)}"
                return VerifyReport(
                    "error", message, diagnostics=(raised.diagnostic(message, VERIFY_ERROR),)
                )
        return verify_report(result)


class _UnsavedFiles(importlib.abc.MetaPathFinder):
    """Imports a module whose file the editor holds with unsaved edits from the editor's
    text (``texts``: absolute path -> text); every other module is left to the usual
    finders."""

    def __init__(self, texts: dict[str, str], exclude: str) -> None:
        self.texts = {file: text for file, text in texts.items() if file != exclude}
        # The files whose text tracebacks were given (linecache), to forget afterwards.
        self.shown: list[str] = []

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not self.texts:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        origin = None if spec is None or spec.origin is None else os.path.abspath(spec.origin)
        if origin is None or origin not in self.texts:
            return None
        assert spec is not None
        return importlib.util.spec_from_file_location(
            name,
            origin,
            loader=_TextLoader(origin, self.texts[origin], self.shown),
            submodule_search_locations=spec.submodule_search_locations,
        )


class _TextLoader(importlib.abc.Loader):
    def __init__(self, origin: str, text: str, shown: list[str]) -> None:
        self.origin = origin
        self.text = text
        self.shown = shown

    def exec_module(self, module: types.ModuleType) -> None:
        lines = self.text.splitlines(keepends=True)
        linecache.cache[self.origin] = (len(self.text), None, lines, self.origin)
        self.shown.append(self.origin)
        exec(compile(self.text, self.origin, "exec", dont_inherit=True), module.__dict__)


def _execute(text: str, path: str, tracebacks: _Tracebacks) -> types.ModuleType:
    try:
        code = compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        col = None if exc.offset is None else max(exc.offset - 1, 0)
        raise _Failure(
            ExportDiagnostic(f"SyntaxError: {exc.msg}", MODULE_ERROR, exc.lineno, col)
        ) from None
    except ValueError as exc:  # e.g. a NUL byte in the text
        raise _Failure(ExportDiagnostic(f"ValueError: {exc}", MODULE_ERROR)) from None
    name = os.path.splitext(os.path.basename(path))[0] or "module"
    module = types.ModuleType(name)
    module.__file__ = path
    # Registered while the request runs, as an import would: dataclasses and pickling look the
    # module up by name. A name already taken (a file named like an installed module) is left.
    registered = name not in sys.modules
    if registered:
        sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        raise _Failure(
            tracebacks.raised(exc, path).diagnostic(one_line(exc), MODULE_ERROR)
        ) from None
    return module


def _directive_config(
    request: ExportRequest, module: types.ModuleType, path: str
) -> tuple[Any, SourceLocation | None]:
    """The ``# h2j: config(...)`` directive's ``helion.Config``, evaluated like ``args``."""
    if request.config_text is None:
        return None, None
    from helion2json.core.configs import config_from_directive
    from helion2json.core.errors import relative_source_path
    from helion2json.core.example_args import evaluation_namespace

    location = SourceLocation(relative_source_path(path), request.config_line or 1, 0)
    try:
        return config_from_directive(request.config_text, evaluation_namespace(vars(module))), (
            location
        )
    except ExportError as exc:
        raise exc.with_context(location=location) from None
    except Exception as exc:
        raise ArgumentError(
            f"config(...) raised {type(exc).__name__}: {exc}".splitlines()[0], location=location
        ) from None


def _directive_reference(request: VerifyRequest, module: types.ModuleType) -> Reference | None:
    """The ``# h2j: ref(...)`` callable, evaluated like ``args``; a failure is placed on the
    directive's line."""
    if request.reference_text is None:
        return None
    from helion2json.core.example_args import evaluation_namespace
    from helion2json.core.verify import evaluate_reference

    try:
        return evaluate_reference(request.reference_text, evaluation_namespace(vars(module)))
    except ArgumentError as exc:
        raise _Failure(
            ExportDiagnostic(exc.message, exc.code, request.reference_line, None)
        ) from None


def verify_report(result: VerifyResult) -> VerifyReport:
    """The wire form of ``helion2json.core.verify``'s result, with a one-line message."""
    outputs = tuple(
        OutputComparison(
            check.label,
            check.ok,
            check.max_abs_error,
            check.max_rel_error,
            check.atol,
            check.rtol,
            check.dtype,
            check.message,
        )
        for check in result.outputs
    )
    return VerifyReport(
        result.status,
        _verify_message(result, outputs),
        reference=result.reference_name,
        outputs=outputs,
        skipped=tuple(SkippedReference(s.name, s.reason) for s in result.skipped_references),
    )


def _verify_message(result: VerifyResult, outputs: tuple[OutputComparison, ...]) -> str:
    reference = result.reference_name or "the reference"
    if result.status == "pass":
        return f"the JSON matches the {reference}"
    failed = [output for output in outputs if not output.ok]
    if result.status == "mismatch" and failed:
        return "; ".join(
            f"{output.label} does not match the {reference}: {output.describe()}"
            for output in failed
        )
    return result.error or result.status


def _evaluate_arguments(
    args_text: str, module: types.ModuleType, path: str, tracebacks: _Tracebacks
) -> Any:
    from helion2json.core.example_args import evaluate_call_arguments, evaluation_namespace

    try:
        return evaluate_call_arguments(
            args_text, evaluation_namespace(vars(module)), filename=_ARGS_FILENAME
        )
    except ArgumentError as exc:
        args_col = exc.location.col if exc.location is not None else None
        raised = tracebacks.raised(exc.__cause__, path) if exc.__cause__ else _Raised()
        raise _Failure(raised.diagnostic(exc.message, exc.code, args_col=args_col)) from None
    except Exception as exc:
        raised = tracebacks.raised(exc, path)
        raise _Failure(
            raised.diagnostic(f"example arguments raised {one_line(exc)}", ArgumentError.code)
        ) from None


def _export_error(exc: ExportError, path: str, root: str) -> ExportDiagnostic:
    file, line, col = None, None, None
    if exc.location is not None:
        location = exc.location
        file, line, col = _source_file(location, path, root), location.line, location.col
    return ExportDiagnostic(exc.message, exc.code, line, col, file, exc.op)


def _source_file(location: SourceLocation, path: str, root: str) -> str | None:
    """The absolute path of an error's file, or None when it is the request's own file.

    Errors name files relative to the working directory, or by base name alone when they
    lie outside it.
    """
    candidate = os.path.normpath(os.path.join(root, location.file))
    if candidate == path:
        return None
    if not os.path.exists(candidate) and location.file == os.path.basename(path):
        return None
    return candidate


@dataclass(frozen=True)
class _Raised:
    """Where an exception was raised: the deepest line of the request's file in its traceback
    (1-based ``line``, 0-based ``col``), and the deepest line of another of the user's files
    below it, named in the message as ``shown``."""

    line: int | None = None
    col: int | None = None
    related: RelatedLocation | None = None
    shown: str | None = None

    def diagnostic(self, message: str, code: str, args_col: int | None = None) -> ExportDiagnostic:
        if self.shown is not None:
            message = f"{message} ({self.shown})"
        return ExportDiagnostic(
            message, code, self.line, self.col, args_col=args_col, related=self.related
        )


@dataclass(frozen=True)
class _Tracebacks:
    """Finds the user's lines in tracebacks: those of files outside the installed packages
    and helion2json itself; names them relative to ``root`` (by base name outside it)."""

    root: str
    library: tuple[str, ...]

    def raised(self, exc: BaseException, path: str) -> _Raised:
        line: int | None = None
        col: int | None = None
        related: RelatedLocation | None = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if not frame.lineno:
                continue
            if frame.filename == path:
                line, col, related = frame.lineno, frame.colno, None
            elif self._is_user_file(frame.filename):
                related = RelatedLocation(frame.filename, frame.lineno, frame.colno)
        if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
            # The line that does not parse is in no frame.
            offset = max((exc.offset or 1) - 1, 0)
            if exc.filename == path:
                line, col, related = exc.lineno, offset, None
            elif self._is_user_file(exc.filename):
                related = RelatedLocation(exc.filename, exc.lineno, offset)
        if related is None:
            return _Raised(line, col)
        return _Raised(line, col, related, f"{self._name(related.file)}:{related.line}")

    def _is_user_file(self, filename: str) -> bool:
        return (
            os.path.isabs(filename)
            and os.path.isfile(filename)
            and not _is_under(filename, self.library)
        )

    def _name(self, filename: str) -> str:
        try:
            relative = os.path.relpath(filename, self.root)
        except ValueError:  # another drive on Windows
            relative = filename
        if (
            relative == os.pardir
            or relative.startswith(os.pardir + os.sep)
            or os.path.isabs(relative)
        ):
            relative = os.path.basename(filename)
        return relative.replace(os.sep, "/")


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = time.perf_counter() - started


def _never_use_bytecode_caches() -> None:
    """Compile every module imported from now on from its source.

    A .pyc is trusted when the source's mtime (in whole seconds) and size match, so a sibling
    module edited twice within a second, to the same size, would run stale code. Pointing
    the cache at a folder that is never written makes every lookup miss; helion's and
    torch's own modules were imported (and their caches used) before this.
    """
    sys.dont_write_bytecode = True
    sys.pycache_prefix = os.path.join(tempfile.gettempdir(), f"h2j-worker-no-pycache-{os.getpid()}")


_PACKAGE_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "")


def _installation_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(sysconfig.get_path(key))
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots if root)


def _is_under(path: str, roots: tuple[str, ...]) -> bool:
    real = os.path.realpath(path)
    return any(real.startswith(root) for root in roots)


def _module_file(module: types.ModuleType | None) -> str | None:
    if module is None:
        return None
    file = getattr(module, "__file__", None)
    if isinstance(file, str):
        return file
    paths = getattr(module, "__path__", None)  # a namespace package has only its folders
    if paths is not None:
        return next(iter(paths), None)
    return None


def _sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()
