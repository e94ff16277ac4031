"""Prove a kernel's JSON by running it: interpret the document, compare with a reference.

``verify_kernel`` exports a kernel, runs the document with the reference
interpreter (``helion2json.interpret``) and compares every output with the
first reference that can run, in this order:

1. the compiled kernel on a CUDA device, bound with a fixed config (never
   autotuned);
2. without a CUDA device, the same compiled kernel on CPU, its generated
   Triton code run by Triton's interpreter (``helion2json.core.triton_cpu``);
3. Helion's eager reference mode (``ref_mode=helion.RefMode.EAGER``), which
   runs the kernel's Python body with PyTorch (on CPU with kernels for the
   out-dtype matrix products it calls, ``helion2json.core.eager_cpu``): not
   the generated code, so it can share a mistake with the document;
4. a user reference: a callable computing the same outputs (``reference=``,
   ``--ref``, or a ``# h2j: ref(...)`` directive evaluated with
   :func:`evaluate_reference`).

References that cannot run are reported with the reason. When none can, the
result's status is ``"no-reference"``: not a pass. ``verify_document`` checks
a given document against given reference outputs, so a test can corrupt a
document and see the check fail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from helion2json.core import triton_cpu
from helion2json.core.dtypes import dtype_label, torch_dtype
from helion2json.core.eager_cpu import out_dtype_products_on_cpu
from helion2json.core.errors import ArgumentError, ExportError, one_line
from helion2json.core.precision import lowest_precisions
from helion2json.interpret import InterpretError, run_document

__all__ = [
    "COMPILED_REFERENCE",
    "EAGER_REFERENCE",
    "INTERPRETED_REFERENCE",
    "OutputCheck",
    "Reference",
    "ReferenceRun",
    "SkippedReference",
    "VerifyResult",
    "compare_tensors",
    "document_reference",
    "evaluate_reference",
    "reference_label",
    "reference_runs",
    "tolerance",
    "verify_document",
    "verify_kernel",
]

COMPILED_REFERENCE = "compiled kernel (cuda)"
INTERPRETED_REFERENCE = "compiled kernel (Triton interpreter, CPU)"
EAGER_REFERENCE = "helion eager reference mode"

Status = Literal["pass", "mismatch", "no-reference", "error"]

# (atol, rtol) per element type: about a few units in the last place of the
# type, since the interpreter and the reference round in different orders.
_FLOAT_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-7, 1e-7),
    torch.float32: (1e-4, 1e-4),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (2e-2, 2e-2),
    torch.float8_e4m3fn: (1.25e-1, 1.25e-1),
    torch.float8_e4m3fnuz: (1.25e-1, 1.25e-1),
    torch.float8_e5m2: (2.5e-1, 2.5e-1),
    torch.float8_e5m2fnuz: (2.5e-1, 2.5e-1),
    torch.complex64: (1e-4, 1e-4),
    torch.complex128: (1e-7, 1e-7),
}
# Rounding error of a sum grows with the square root of its length; reductions
# up to this length keep the base tolerance.
_REDUCTION_BASE = 1024
# Reasons a reference was skipped are shown on one line.
_REASON_WIDTH = 160


def tolerance(dtype: torch.dtype, reduction_length: int = 1) -> tuple[float, float]:
    """``(atol, rtol)`` for outputs of ``dtype``; integers and booleans compare exactly.

    Floating tolerances grow with ``sqrt(reduction_length / 1024)`` once a
    kernel may sum more than 1024 terms into one output.
    """
    base = _FLOAT_TOLERANCES.get(dtype)
    if base is None:
        return (0.0, 0.0)
    scale = max(1.0, math.sqrt(reduction_length / _REDUCTION_BASE))
    return (base[0] * scale, base[1] * scale)


@dataclass(frozen=True)
class OutputCheck:
    """One compared tensor: a returned output, or an argument the kernel writes into."""

    index: int
    ok: bool
    max_abs_error: float
    max_rel_error: float
    atol: float
    rtol: float
    dtype: str
    # "output 0", or "argument out" for a tensor argument the kernel modified.
    label: str = ""
    # Why the tensors could not be compared element by element (shape or dtype).
    message: str | None = None


@dataclass(frozen=True)
class SkippedReference:
    name: str
    reason: str


@dataclass(frozen=True)
class ReferenceRun:
    """What a reference produced on cloned inputs.

    ``arguments`` holds the arguments' state after the run where the reference
    is the kernel itself (so writes into arguments can be compared too), and
    is None for user references, which need not mimic them.
    """

    name: str
    outputs: list[torch.Tensor | None]
    arguments: list[Any] | None = None


@dataclass
class VerifyResult:
    kernel: str
    status: Status
    outputs: list[OutputCheck] = field(default_factory=list)
    reference_name: str | None = None
    skipped_references: list[SkippedReference] = field(default_factory=list)
    # Why the document could not run, or why nothing was compared.
    error: str | None = None
    document: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "pass"


@dataclass(frozen=True)
class Reference:
    """A user reference with the name it is reported under (its source text)."""

    fn: Callable[..., Any]
    name: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def evaluate_reference(text: str, namespace: Mapping[str, Any]) -> Reference:
    """Evaluate the text of ``--ref EXPR`` or ``# h2j: ref(EXPR)`` to a callable.

    ``namespace`` is what ``helion2json.core.example_args.evaluation_namespace``
    gives for the kernel's module (``torch``, ``helion``, ``hl``, ``DEVICE``
    and the module's globals), so directives and ``--ref`` mean the same.
    """
    source = text.strip()
    if not source:
        raise ArgumentError("the reference expression is empty")
    try:
        code = compile(source, "<ref>", "eval")
    except SyntaxError as exc:
        raise ArgumentError(f"reference {source!r} does not parse: {exc.msg}") from None
    try:
        value = eval(code, dict(namespace))
    except Exception as exc:
        raise ArgumentError(f"reference {source!r} raised {type(exc).__name__}: {exc}") from None
    if not callable(value):
        raise ArgumentError(f"reference {source!r} is a {type(value).__name__}, not a callable")
    return Reference(value, source)


# ------------------------------------------------------------------ comparison


def compare_tensors(
    actual: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float
) -> tuple[bool, float, float, str | None]:
    """``(ok, max_abs_error, max_rel_error, message)``; NaN matches NaN, inf matches itself.

    An element is close when ``|actual - expected| <= atol + rtol * |expected|``.
    The relative error is taken over the elements whose expected value is non-zero.
    """
    if tuple(actual.shape) != tuple(expected.shape):
        return (
            False,
            math.inf,
            math.inf,
            f"shape {list(actual.shape)}, reference {list(expected.shape)}",
        )
    if actual.dtype != expected.dtype:
        return (
            False,
            math.inf,
            math.inf,
            f"dtype {dtype_label(actual.dtype)}, reference {dtype_label(expected.dtype)}",
        )
    if actual.numel() == 0:
        return True, 0.0, 0.0, None
    wide = torch.complex128 if actual.dtype.is_complex else torch.float64
    a = actual.detach().to("cpu", wide)
    e = expected.detach().to("cpu", wide)
    same = (a == e) | (torch.isnan(a) & torch.isnan(e))
    diff = torch.where(same, torch.zeros_like(a.real if a.is_complex() else a), (a - e).abs())
    # One side NaN (or infinities that differ) is as far apart as values get.
    diff = torch.nan_to_num(diff, nan=math.inf)
    magnitude = e.abs().nan_to_num(nan=0.0, posinf=0.0)
    close = diff <= atol + rtol * magnitude
    nonzero = magnitude > 0
    max_abs = float(diff.max())
    max_rel = float((diff[nonzero] / magnitude[nonzero]).max()) if bool(nonzero.any()) else 0.0
    if not bool(nonzero.any()) and max_abs > 0:
        max_rel = math.inf
    return bool(close.all()), max_abs, max_rel, None


def _check(
    index: int,
    label: str,
    actual: torch.Tensor,
    expected: torch.Tensor,
    reduction_length: int,
    atol: float | None,
    rtol: float | None,
    rounded_to: str | None = None,
) -> OutputCheck:
    default_atol, default_rtol = tolerance(actual.dtype, reduction_length)
    if rounded_to is not None and actual.dtype.is_floating_point:
        # The value passed through a lower precision than its own (see core.precision).
        path_atol, path_rtol = tolerance(torch_dtype(rounded_to), reduction_length)
        default_atol, default_rtol = max(default_atol, path_atol), max(default_rtol, path_rtol)
    use_atol = default_atol if atol is None else atol
    use_rtol = default_rtol if rtol is None else rtol
    ok, max_abs, max_rel, message = compare_tensors(actual, expected, use_atol, use_rtol)
    return OutputCheck(
        index, ok, max_abs, max_rel, use_atol, use_rtol, dtype_label(actual.dtype), label, message
    )


def _longest_axis(values: Sequence[Any]) -> int:
    return max((max(v.shape, default=1) for v in values if isinstance(v, torch.Tensor)), default=1)


def _clone(value: Any) -> Any:
    # The items of a list of tensors are arguments a run may write into, like tensors
    # (tuple subclasses such as hl.constexpr hold constants and stay as they are).
    if type(value) in (list, tuple):
        return type(value)([_clone(item) for item in value])
    return value.clone() if isinstance(value, torch.Tensor) else value


def _clone_all(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return [_clone(a) for a in args], {k: _clone(v) for k, v in kwargs.items()}


def _outputs(value: Any, what: str) -> list[torch.Tensor | None]:
    """The tensors a run returned, in order; None where it returns None (``return out, None``).

    A host scalar (``return out, count``) compares as a 0-d tensor of its value, as the
    interpreter returns it (a float as float64).
    """
    if value is None:
        return []
    items = list(value) if isinstance(value, tuple | list) else [value]
    outputs: list[torch.Tensor | None] = []
    for position, item in enumerate(items):
        if isinstance(item, bool | int | float):
            item = torch.tensor(item, dtype=torch.float64 if isinstance(item, float) else None)
        if item is not None and not isinstance(item, torch.Tensor):
            raise TypeError(f"{what} returned {type(item).__name__} at position {position}")
        outputs.append(item)
    return outputs


def _interpret(
    document: Mapping[str, Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    func: str | None,
) -> tuple[list[torch.Tensor | None], dict[str, Any]]:
    """Run the document on clones; returns its outputs and each argument's final state."""
    cloned_args, cloned_kwargs = _clone_all(args, kwargs)
    outputs = run_document(document, cloned_args, cloned_kwargs, func=func)
    names = _argument_names(document, func)
    finals = dict(zip(names, cloned_args, strict=False))
    finals.update(cloned_kwargs)
    return outputs, finals


def document_reference(
    document: Mapping[str, Any],
    example_args: Sequence[Any],
    example_kwargs: Mapping[str, Any] | None = None,
    *,
    func: str | None = None,
) -> ReferenceRun:
    """A document's own results as a reference: what another document must reproduce.

    Verifying a changed document against it tells whether the change alters
    what the document computes.
    """
    outputs, finals = _interpret(document, example_args, dict(example_kwargs or {}), func)
    arguments = [finals.get(name) for name in _argument_names(document, func)]
    return ReferenceRun("the document", outputs, arguments)


def verify_document(
    document: Mapping[str, Any],
    example_args: Sequence[Any],
    example_kwargs: Mapping[str, Any] | None = None,
    *,
    reference: ReferenceRun,
    atol: float | None = None,
    rtol: float | None = None,
    func: str | None = None,
) -> VerifyResult:
    """Interpret ``document`` on clones of the example inputs and compare with ``reference``.

    Compares every returned tensor, and, where ``reference.arguments`` is given,
    every tensor argument that either run modified. Tolerances default to
    :func:`tolerance` of each output's dtype.
    """
    kwargs = dict(example_kwargs or {})
    result = VerifyResult(
        _function_name(document, func),
        "error",
        reference_name=reference.name,
        document=dict(document),
    )
    try:
        outputs, finals = _interpret(document, example_args, kwargs, func)
    except (InterpretError, ExportError) as exc:
        result.error = str(exc)
        return result
    reduction_length = _longest_axis([*example_args, *kwargs.values()])
    checks = result.outputs
    if len(outputs) != len(reference.outputs):
        result.status = "mismatch"
        result.error = (
            f"the document returns {len(outputs)} tensors, the reference {len(reference.outputs)}"
        )
        return result
    chosen = _function(document, func)
    rounded = lowest_precisions(chosen) if isinstance(chosen, Mapping) else []
    for index, (actual, expected) in enumerate(zip(outputs, reference.outputs, strict=True)):
        if actual is None and expected is None:
            continue
        if actual is None or expected is None:
            result.status = "mismatch"
            result.error = f"output {index} is None in {'the document' if actual is None else 'the reference'} only"
            return result
        rounded_to = rounded[index] if index < len(rounded) else None
        checks.append(
            _check(
                index, f"output {index}", actual, expected, reduction_length, atol, rtol, rounded_to
            )
        )
    if reference.arguments is not None:
        names = _argument_names(document, func)
        originals = dict(zip(names, example_args, strict=False))
        originals.update(kwargs)
        for name, theirs in zip(names, reference.arguments, strict=False):
            original, mine = originals.get(name), finals.get(name)
            if not (
                isinstance(original, torch.Tensor)
                and isinstance(mine, torch.Tensor)
                and isinstance(theirs, torch.Tensor)
            ):
                continue
            if _unchanged(original, mine) and _unchanged(original, theirs):
                continue
            label = f"argument {name}"
            checks.append(_check(len(checks), label, mine, theirs, reduction_length, atol, rtol))
    if not checks:
        result.error = "nothing to compare: the kernel returns no tensor and writes no argument"
        return result
    result.status = "pass" if all(check.ok for check in checks) else "mismatch"
    return result


def _unchanged(original: torch.Tensor, final: torch.Tensor) -> bool:
    return compare_tensors(final, original, 0.0, 0.0)[0]


def _function(document: Mapping[str, Any], func: str | None) -> Mapping[str, Any] | None:
    try:
        funcs = document["module"]["funcs"]
        return next(f for f in funcs if func is None or f["name"] == func)
    except (KeyError, TypeError, StopIteration):
        return None


def _function_name(document: Mapping[str, Any], func: str | None) -> str:
    chosen = _function(document, func)
    return str(chosen.get("name", "?")) if isinstance(chosen, Mapping) else (func or "?")


def _argument_names(document: Mapping[str, Any], func: str | None) -> list[str]:
    chosen = _function(document, func)
    try:
        return [str(arg["id"]) for arg in chosen["args"]]  # type: ignore[index]
    except (KeyError, TypeError):
        return []


# ------------------------------------------------------------------ references


class _Skip(Exception):
    """A reference that does not apply here (no CUDA, no user reference)."""


def _to_device(value: Any, device: torch.device | str) -> Any:
    """``value`` on ``device``: a tensor, the items of a plain list or tuple, a device argument."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, torch.device):
        # A kernel allocating on its ``device`` argument must allocate where it runs.
        return torch.device(device)
    if type(value) in (list, tuple):
        return type(value)(_to_device(item, device) for item in value)
    return value


def _normalized(kernel: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(kernel.normalize_args(*args, **dict(kwargs)))


def _kernel_copy(kernel: Any, **settings: Any) -> Any:
    """The same kernel function and configs under other settings, with its own caches."""
    import helion

    return helion.Kernel(
        kernel.fn,
        configs=list(kernel.configs),
        settings=dataclasses.replace(kernel.settings, **settings),
    )


def _fixed_config(kernel: Any, bound: Any, config: Any, document: Mapping[str, Any] | None) -> Any:
    """The config to compile with: given, the document's, the kernel's only one, or the default."""
    import helion

    if config is not None:
        return config if isinstance(config, helion.Config) else helion.Config(**dict(config))
    funcs = (document or {}).get("module", {}).get("funcs", [])
    recorded = funcs[0].get("config") if len(funcs) == 1 else None
    if isinstance(recorded, Mapping) and isinstance(recorded.get("values"), Mapping):
        return helion.Config(**dict(recorded["values"]))
    if len(kernel.configs) == 1:
        return kernel.configs[0]
    return bound.config_spec.default_config()


def _run_compiled(
    kernel: Any,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    config: Any,
    document: Mapping[str, Any] | None,
    device: Literal["cuda", "cpu"],
) -> ReferenceRun:
    """The kernel compiled with a fixed config and run on ``device``'s copies of the inputs.

    On ``cpu`` Triton's interpreter runs the generated code.
    """
    if device == "cuda":
        if not torch.cuda.is_available():
            raise _Skip("CUDA is not available")
    else:
        if torch.cuda.is_available():
            raise _Skip("a CUDA device is available: the compiled kernel runs there")
        unavailable = triton_cpu.interpreter_unavailable_reason()
        if unavailable is not None:
            raise _Skip(unavailable)
        triton_cpu.install_libdevice_fallbacks()
    import helion

    home = next((a.device for a in [*args, *kwargs.values()] if isinstance(a, torch.Tensor)), None)
    # IEEE products: the document's float32 math is not rounded to TF32, Triton's default.
    compiled = _kernel_copy(kernel, ref_mode=helion.RefMode.OFF, dot_precision="ieee")
    moved_args = [_to_device(_clone(a), device) for a in args]
    moved_kwargs = {k: _to_device(_clone(v), device) for k, v in kwargs.items()}
    normalized = _normalized(compiled, moved_args, moved_kwargs)
    bound = compiled.bind(normalized)
    # A fixed config: calling an unconfigured kernel would autotune.
    fixed = _fixed_config(kernel, bound, config, document)
    if device == "cpu":
        limitation = triton_cpu.interpreter_limitation(bound.to_triton_code(fixed), normalized)
        if limitation is not None:
            raise _Skip(limitation)
    bound.set_config(fixed)
    with triton_cpu.quiet_float_errors() if device == "cpu" else contextlib.nullcontext():
        outputs = _outputs(bound(*normalized), "the compiled kernel")
    if device == "cuda":
        torch.cuda.synchronize()
    back = home or torch.device("cpu")
    return ReferenceRun(
        COMPILED_REFERENCE if device == "cuda" else INTERPRETED_REFERENCE,
        [None if o is None else o.to(back) for o in outputs],
        [_to_device(a, back) for a in normalized],
    )


def _run_eager(kernel: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> ReferenceRun:
    import helion

    # Reference mode runs the kernel's Python body with PyTorch; it never compiles
    # or autotunes.
    eager = _kernel_copy(kernel, ref_mode=helion.RefMode.EAGER)
    cloned_args, cloned_kwargs = _clone_all(args, kwargs)
    normalized = _normalized(eager, cloned_args, cloned_kwargs)
    # Out-dtype products (hl.dot's out_dtype, mixed-precision matmuls) have no CPU kernel.
    with out_dtype_products_on_cpu():
        outputs = _outputs(eager.bind(normalized)(*normalized), "the eager reference")
    return ReferenceRun(EAGER_REFERENCE, outputs, list(normalized))


def reference_label(reference: Callable[..., Any]) -> str:
    """How a user reference is reported: its source text, else where it can be imported from."""
    if isinstance(reference, Reference):
        return reference.name
    module = getattr(reference, "__module__", None)
    name = getattr(reference, "__name__", None)
    # torch.matmul's qualified name is _VariableFunctionsClass.matmul; say torch.matmul.
    if module and name and getattr(sys.modules.get(module), name, None) is reference:
        return f"{module}.{name}"
    qualified = getattr(reference, "__qualname__", None) or name
    if qualified is None:
        return repr(reference)
    return f"{module}.{qualified}" if module else str(qualified)


def _run_user(
    reference: Callable[..., Any] | None, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> ReferenceRun:
    if reference is None:
        raise _Skip("none given (reference=, --ref or a '# h2j: ref(...)' directive)")
    name = f"user reference {reference_label(reference)}"
    cloned_args, cloned_kwargs = _clone_all(args, kwargs)
    return ReferenceRun(name, _outputs(reference(*cloned_args, **cloned_kwargs), name))


def reference_runs(
    kernel: Any,
    example_args: Sequence[Any],
    example_kwargs: Mapping[str, Any] | None = None,
    *,
    reference: Callable[..., Any] | None = None,
    config: Any = None,
    document: Mapping[str, Any] | None = None,
    only: Sequence[str] | None = None,
) -> tuple[ReferenceRun | None, list[SkippedReference]]:
    """The first reference that runs, in order of preference, and why the ones before it did not.

    ``only`` names the references to try (``COMPILED_REFERENCE``, ...,
    ``"user reference"``); all of them by default.
    """
    kwargs = dict(example_kwargs or {})
    attempts: list[tuple[str, Callable[[], ReferenceRun]]] = [
        (
            COMPILED_REFERENCE,
            lambda: _run_compiled(kernel, example_args, kwargs, config, document, "cuda"),
        ),
        (
            INTERPRETED_REFERENCE,
            lambda: _run_compiled(kernel, example_args, kwargs, config, document, "cpu"),
        ),
        (EAGER_REFERENCE, lambda: _run_eager(kernel, example_args, kwargs)),
        (
            "user reference",
            lambda: _run_user(reference, example_args, kwargs),
        ),
    ]
    skipped: list[SkippedReference] = []
    for name, attempt in attempts:
        if only is not None and name not in only:
            continue
        if name == "user reference" and reference is not None:
            name = f"user reference {reference_label(reference)}"
        try:
            return attempt(), skipped
        except _Skip as exc:
            skipped.append(SkippedReference(name, str(exc)))
        except Exception as exc:  # a reference failing is a reason to try the next
            skipped.append(SkippedReference(name, one_line(exc, width=_REASON_WIDTH)))
    return None, skipped


def verify_kernel(
    kernel: Any,
    example_args: Sequence[Any],
    example_kwargs: Mapping[str, Any] | None = None,
    *,
    reference: Callable[..., Any] | None = None,
    config: Any = None,
    atol: float | None = None,
    rtol: float | None = None,
    document: Mapping[str, Any] | None = None,
) -> VerifyResult:
    """Export ``kernel`` on the example inputs, interpret the JSON, compare with a reference.

    ``config`` (a ``helion.Config`` or its keyword dict) fixes the config of the
    compiled-kernel references (CUDA and Triton's interpreter); without it the document's recorded config, the
    kernel's only config, or Helion's default config is used. ``document`` is the kernel's
    export on these inputs when the caller has it already (it is not exported again). Export
    failures raise ``ExportError``; everything else is in the returned result.
    """
    from helion2json.core.export import export_kernel

    kwargs = dict(example_kwargs or {})
    if document is None:
        document = export_kernel(kernel, example_args, example_kwargs=kwargs)
    run, skipped = reference_runs(
        kernel, example_args, kwargs, reference=reference, config=config, document=document
    )
    if run is None:
        result = VerifyResult(
            _function_name(document, None),
            "no-reference",
            skipped_references=skipped,
            document=dict(document),
        )
        # Still run the document: an error in it is worth reporting on its own.
        try:
            _interpret(document, _normalized(kernel, example_args, kwargs), {}, None)
        except (InterpretError, ExportError) as exc:
            result.status = "error"
            result.error = str(exc)
            return result
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in skipped)
        result.error = f"no reference could run ({reasons})"
        return result
    # The document's signature has every parameter, defaults included, as the exporter
    # bound them: the interpreter gets the arguments the same way.
    arguments = _normalized(kernel, example_args, kwargs)
    result = verify_document(document, arguments, {}, reference=run, atol=atol, rtol=rtol)
    result.skipped_references = skipped
    return result
