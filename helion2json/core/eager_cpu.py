"""CPU kernels for the out-dtype matrix products Helion's eager reference mode calls.

Eager mode runs ``hl.dot(a, b, out_dtype=...)`` and mixed-precision matmuls
through ATen's out-dtype overloads (``aten::mm.dtype``, ``aten::bmm.dtype``...),
which have CUDA kernels only: on CPU the reference failed before computing
anything. :func:`out_dtype_products_on_cpu` registers CPU kernels for those
overloads while the reference runs and removes them afterwards: each product is
computed in a type wide enough for its inputs (``f32``, ``f64`` for ``f64``
inputs, ``i64`` for integers), as the GPU kernels accumulate, then converted to
the requested type. An overload that already has a CPU kernel is left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch

__all__ = ["out_dtype_products_on_cpu"]


def _wide(*tensors: torch.Tensor) -> torch.dtype:
    if any(not (t.is_floating_point() or t.is_complex()) for t in tensors):
        return torch.int64
    if any(t.dtype == torch.float64 for t in tensors):
        return torch.float64
    return torch.float32


def _product(
    combine: Callable[..., torch.Tensor],
) -> Callable[..., torch.Tensor]:
    """``combine`` of the tensors widened by :func:`_wide`, its result converted to ``out_dtype``."""

    def kernel(*args: object, **kwargs: object) -> torch.Tensor:
        *tensors, out_dtype = args
        assert isinstance(out_dtype, torch.dtype)
        inputs = [t for t in tensors if isinstance(t, torch.Tensor)]
        wide = _wide(*inputs)
        return combine(*[t.to(wide) for t in inputs], **kwargs).to(out_dtype)

    return kernel


_KERNELS: dict[str, Callable[..., torch.Tensor]] = {
    "mm.dtype": _product(torch.mm),
    "bmm.dtype": _product(torch.bmm),
    "addmm.dtype": _product(torch.addmm),
    "baddbmm.dtype": _product(torch.baddbmm),
}


def _lacks_cpu_kernel(overload: str) -> bool:
    return not torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{overload}", "CPU")


@contextlib.contextmanager
def out_dtype_products_on_cpu() -> Iterator[None]:
    """Within the block, ``aten::{mm,bmm,addmm,baddbmm}.dtype`` run on CPU tensors."""
    missing = [name for name in _KERNELS if _lacks_cpu_kernel(name)]
    if not missing:
        yield
        return
    library = torch.library.Library("aten", "IMPL")
    try:
        for name in missing:
            library.impl(name, _KERNELS[name], "CPU")
        yield
    finally:
        library._destroy()
