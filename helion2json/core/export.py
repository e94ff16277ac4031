"""The exporter's public entry points: bind, translate, validate, write."""

from __future__ import annotations

import contextlib
import errno
import inspect
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helion2json.core.errors import (
    ArgumentError,
    BindError,
    ExportError,
    NoBindingError,
    SourceLocation,
    ValidationError,
    one_line,
    relative_source_path,
    user_frame,
)
from helion2json.core.schema import FORMAT_VERSION, validate_spec

if TYPE_CHECKING:
    from helion2json.core.configs import ConfigChoice


def _kernel_function(kernel: Any) -> Any:
    fn = getattr(kernel, "fn", None)
    if fn is None or not hasattr(kernel, "bind"):
        raise ArgumentError(
            f"{kernel!r} is not a Helion kernel (decorate the function with @helion.kernel)"
        )
    return fn


def _definition(fn: Any) -> SourceLocation:
    code = fn.__code__
    return SourceLocation(relative_source_path(code.co_filename), code.co_firstlineno, 0)


def _check_tensor_parameters(kernel: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """A parameter annotated ``torch.Tensor`` needs a tensor example (Helion's error is obscure).

    Kernels may have no tensor parameter at all (sizes, a dtype and a device).
    """
    import torch

    fn = _kernel_function(kernel)
    try:
        given = inspect.signature(fn).bind_partial(*args, **kwargs).arguments
    except TypeError:
        return  # bind_kernel reports arguments that do not fit the signature
    for name, value in given.items():
        annotation = fn.__annotations__.get(name)
        if annotation in (torch.Tensor, "torch.Tensor", "Tensor") and not isinstance(
            value, torch.Tensor
        ):
            raise ArgumentError(
                f"argument '{name}' is annotated torch.Tensor, but its example is a "
                f"{type(value).__name__}: pass a tensor (e.g. --arg 'torch.randn(64, 64)')",
                kernel=fn.__name__,
                location=_definition(fn),
            )


def bind_kernel(kernel: Any, args: Sequence[Any], kwargs: Mapping[str, Any] | None = None) -> Any:
    """``kernel.bind`` on the example arguments, with Helion's failures as ``BindError``."""
    from helion2json.core.capture import helion_ir

    helion_ir.check_helion_version()
    # Before binding: Helion's IR keeps the operands a kernel was traced with only then.
    helion_ir.install()
    fn = _kernel_function(kernel)
    name = fn.__name__
    try:
        normalized = kernel.normalize_args(*args, **dict(kwargs or {}))
    except TypeError as exc:
        raise ArgumentError(
            f"example arguments do not fit the signature: {exc}",
            kernel=name,
            location=_definition(fn),
        ) from None
    try:
        return kernel.bind(normalized)
    except ExportError:
        raise
    except Exception as exc:
        location = user_frame(exc, fn.__code__.co_filename) or _definition(fn)
        raise BindError(
            f"helion could not bind the kernel: {one_line(exc)}",
            kernel=name,
            location=location,
        ) from exc


def export_bound(
    bound: Any,
    *,
    module_name: str = "helion_module",
    locations: bool = True,
    config: ConfigChoice | None = None,
) -> dict[str, Any]:
    """Translate an already bound kernel and validate the document.

    ``config`` is the chosen config; without one, the kernel's own fixed config
    or Helion's default is used (``configs.choose_config``).
    """
    from helion2json.core.capture.translator import KernelTranslator
    from helion2json.core.capture.values import ExportOptions
    from helion2json.core.configs import choose_config
    from helion2json.core.environment import export_environment

    fn = bound.kernel.fn
    choice = config or choose_config(bound)
    options = ExportOptions(module_name, locations, config=choice.config)
    func = KernelTranslator(bound, fn.__name__, options).translate()
    chosen = choice.as_json()
    # Where it was made: Helion's default config depends on it.
    func["config"] = {"source": chosen["source"], **export_environment(bound), **chosen}
    payload = {"version": FORMAT_VERSION, "module": {"name": module_name, "funcs": [func]}}
    try:
        validate_spec(payload)
    except ValidationError as exc:
        exc.kernel = fn.__name__
        if exc.location is None:
            exc.location = _definition(fn)
        raise
    return payload


def export_kernel(
    kernel: Any,
    example_args: Sequence[Any],
    *,
    example_kwargs: Mapping[str, Any] | None = None,
    module_name: str = "helion_module",
    locations: bool = True,
    config: Any = None,
    config_location: SourceLocation | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Bind ``kernel`` on ``example_args`` and return its validated JSON document.

    Never calls the kernel (that would compile and autotune): binding alone
    lowers it to the device IR that the document is read from. The config is,
    in this order: ``config`` (a ``helion.Config`` or its values, e.g. from a
    ``# h2j: config(...)`` directive at ``config_location``), the kernel's own
    fixed config, ``config_file`` (Helion's saved-config JSON), Helion's default.
    """
    from helion2json.core.configs import choose_config

    _check_tensor_parameters(kernel, example_args, example_kwargs or {})
    bound = bind_kernel(kernel, tuple(example_args), example_kwargs)
    try:
        choice = choose_config(
            bound, directive=config, directive_location=config_location, config_file=config_file
        )
    except ExportError as exc:
        raise exc.with_context(kernel=bound.kernel.fn.__name__) from None
    return export_bound(bound, module_name=module_name, locations=locations, config=choice)


def most_recent_binding(kernel: Any) -> Any:
    fn = _kernel_function(kernel)
    bound_kernels = getattr(kernel, "_bound_kernels", None) or {}
    if not bound_kernels:
        raise NoBindingError(
            "the kernel has not been bound or called yet, so there is nothing to export; "
            "pass example_args",
            kernel=fn.__name__,
            location=_definition(fn),
        )
    return list(bound_kernels.values())[-1]


def to_json_text(payload: Mapping[str, Any], indent: int | None = 2) -> str:
    """The document's text: deterministic, strict JSON (no NaN/Infinity), newline-terminated.

    With an indent, containers that fit on one line stay on one line, so every op
    reads (and diffs) as a single line. ``indent <= 0`` writes one compact line.
    """
    if indent is None or indent <= 0:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False) + "\n"
    return _format_value(payload, indent, 0) + "\n"


_LINE_WIDTH = 100


def _format_value(value: Any, indent: int, level: int) -> str:
    flat = json.dumps(value, allow_nan=False, separators=(", ", ": "))
    if not isinstance(value, (dict, list)) or not value:
        return flat
    is_op = isinstance(value, dict) and "op" in value
    if is_op or level * indent + len(flat) <= _LINE_WIDTH:
        return flat
    inner = " " * (indent * (level + 1))
    if isinstance(value, dict):
        items = [
            f"{inner}{json.dumps(key)}: {_format_value(item, indent, level + 1)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + " " * (indent * level) + "}"
    items = [f"{inner}{_format_value(item, indent, level + 1)}" for item in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * (indent * level) + "]"


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write through a temporary file and a rename: readers never see a partial file.

    The file gets the mode a plain ``open()`` would give it (0666 less the umask),
    not the temporary file's 0600. A target that is a directory is an
    ``IsADirectoryError`` naming it.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # Elsewhere the only way to read it is to set it; set it straight back.
    current = os.umask(0o022)
    os.umask(current)
    return current


def dump_kernel_json(
    kernel: Any,
    path: str | os.PathLike[str],
    example_args: Sequence[Any] | None = None,
    *,
    example_kwargs: Mapping[str, Any] | None = None,
    module_name: str = "helion_module",
    indent: int | None = 2,
    locations: bool = True,
) -> dict[str, Any]:
    """Export ``kernel`` and write the JSON to ``path`` atomically; returns the document.

    Without ``example_args`` the kernel's most recent binding is reused.
    """
    if example_args is None and example_kwargs is None:
        payload = export_bound(
            most_recent_binding(kernel), module_name=module_name, locations=locations
        )
    else:
        payload = export_kernel(
            kernel,
            example_args or (),
            example_kwargs=example_kwargs,
            module_name=module_name,
            locations=locations,
        )
    write_atomically(path, to_json_text(payload, indent))
    return payload
