"""Running Helion's generated Triton code on CPU, in Triton's interpreter.

With ``TRITON_INTERPRET=1`` Triton runs ``@triton.jit`` functions as Python
over NumPy arrays, so a kernel bound with a fixed config runs its generated
code on CPU tensors: ``verify``'s reference on machines without a GPU. Triton
reads the variable when it decorates a function, and it decorates its own
helpers (``tl.cdiv``...) when it is imported, so the variable must be set
before anything imports triton (helion does): :func:`enable_interpreter_if_no_gpu`
is called first thing by ``python -m helion2json``, the test suite and the
benchmarks.

The interpreter has gaps (triton 3.6): ``libdevice`` functions are stubs that
only the compiler resolves (:func:`install_libdevice_fallbacks` maps the ones
``tl.math`` also has), ``tl.dot`` multiplies the raw bits of ``bfloat16``
operands, and casts to ``float8`` round differently from the GPU
(:func:`interpreter_limitation` declines those kernels).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import Any

INTERPRET_VARIABLE = "TRITON_INTERPRET"
# Helion refuses to run when both its own and Triton's interpret modes are on.
_HELION_INTERPRET_VARIABLE = "HELION_INTERPRET"
_FIX = (
    f"set {INTERPRET_VARIABLE}=1 before importing helion, "
    "or run 'python -m helion2json verify', which sets it"
)


def _triton_installed() -> bool:
    return "triton" in sys.modules or importlib.util.find_spec("triton") is not None


def _helion_interpret_on() -> bool:
    return os.environ.get(_HELION_INTERPRET_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def enable_interpreter_if_no_gpu() -> bool:
    """Set ``TRITON_INTERPRET=1`` when no CUDA device is available and triton is not imported.

    A value the user set is kept, and so is Helion's own interpret mode
    (``HELION_INTERPRET=1``), which excludes Triton's. Returns whether the
    interpreter is on for triton imported from now on.
    """
    if INTERPRET_VARIABLE in os.environ:
        return os.environ[INTERPRET_VARIABLE] == "1"
    if "triton" in sys.modules or _helion_interpret_on() or not _triton_installed():
        return False
    import torch

    if torch.cuda.is_available():
        return False
    os.environ[INTERPRET_VARIABLE] = "1"
    return True


def interpreter_unavailable_reason() -> str | None:
    """Why the generated code cannot run in Triton's interpreter here, or None when it can."""
    if not _triton_installed():
        return "triton is not installed (pip install triton)"
    if os.environ.get(INTERPRET_VARIABLE) != "1":
        return f"{INTERPRET_VARIABLE}=1 is not set: {_FIX}"
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction

    if not isinstance(tl.cdiv, InterpretedFunction):
        return f"triton was imported without {INTERPRET_VARIABLE}=1: {_FIX}"
    return None


def install_libdevice_fallbacks() -> None:
    """Let interpreted code call the ``libdevice`` functions that ``tl.math`` also has.

    Inductor writes ``libdevice.exp(x)`` where a GPU build links the precise
    library function; the interpreter has only the stubs, which return None.
    ``tl.math``'s function of the same name computes the same value with NumPy.
    Only called in interpret mode, where nothing is compiled for a GPU.
    """
    import triton.language as tl
    from triton.language.extra import libdevice

    for name in dir(libdevice):
        if name.startswith("_") or not hasattr(tl.math, name):
            continue
        if getattr(getattr(libdevice, name), "__module__", None) == __name__:
            continue
        setattr(libdevice, name, _delegate_to_math(name))


def _delegate_to_math(name: str) -> Any:
    def delegated(*args: Any, **kwargs: Any) -> Any:
        import triton.language as tl

        # libdevice's stubs take no keywords; tl.math's builtins get theirs from the interpreter.
        return getattr(tl.math, name)(*args)

    delegated.__name__ = name
    delegated.__qualname__ = name
    delegated.__module__ = __name__
    return delegated


def quiet_float_errors() -> contextlib.AbstractContextManager[Any]:
    """NumPy's warnings about inf and NaN, silenced as the GPU computes them silently.

    Generated code computes on masked-off lanes too (``-inf - -inf`` in a softmax).
    """
    import numpy

    return numpy.errstate(all="ignore")


def interpreter_limitation(triton_code: str, args: Sequence[Any]) -> str | None:
    """Why the interpreter would compute this kernel wrongly, or None.

    ``triton_code`` is the generated source; ``args`` the kernel's arguments.
    """
    import torch

    if "tl.float8" in triton_code:
        return "Triton's interpreter rounds conversions to float8 differently from the GPU"
    bfloat16 = "tl.bfloat16" in triton_code or any(
        isinstance(a, torch.Tensor) and a.dtype == torch.bfloat16 for a in args
    )
    if bfloat16 and "tl.dot" in triton_code:
        return "Triton's interpreter multiplies the raw bits of bfloat16 tl.dot operands"
    return None
