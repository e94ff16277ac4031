"""Kernels whose verify outcome is known, for the tests of verify in the worker, the editor
and CI: a file's text (``ADD``, ``UNPROVEN_MATMUL``) or a kernel to append to one."""

from __future__ import annotations

from pathlib import Path

ADD = """\
import helion
import helion.language as hl
import torch


# h2j: args(torch.randn(8, 8), torch.randn(8, 8))
@helion.kernel(static_shapes=True)
def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = x[tile_m, tile_n] + y[tile_m, tile_n]
    return out
"""

# Its document draws other random numbers than the kernel does: verify finds the outputs
# differ, whichever reference runs (docs/verify.md, "Random numbers").
NOISY = """

# h2j: args(torch.randn(16))
@helion.kernel(static_shapes=True)
def noisy(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] + torch.rand_like(x[tile])
    return out
"""

# Returns nothing and writes no argument: nothing to compare, an error.
WRITES_NOTHING = """

# h2j: args(torch.randn(16))
@helion.kernel(static_shapes=True)
def writes_nothing(x: torch.Tensor) -> None:
    for tile in hl.tile(x.size(0)):
        y = x[tile] + 1
"""

# The language server tests' kernels, whose matmul no reference runs on CPU without Triton's
# interpreter and without verify's CPU kernels for the out-dtype products eager mode reaches
# (``EAGER_AS_PYTORCH_HAS_IT``), and whose user reference raises.
_MATMUL_ARGS = "# h2j: args(torch.randn(4, 8), torch.randn(8, 4))"
UNPROVEN_MATMUL = (
    (Path(__file__).parent / "lsp" / "workspace" / "kernels.py")
    .read_text()
    .replace(_MATMUL_ARGS, f"{_MATMUL_ARGS}\n# h2j: ref(lambda x, y: 1 / 0)")
)


# Runs the worker with eager mode as PyTorch has it: no CPU kernel for the out-dtype
# products (aten::mm.dtype) that matmul reaches.
EAGER_AS_PYTORCH_HAS_IT = (
    "import contextlib, runpy\n"
    "import helion2json.core.verify as verify\n"
    "verify.out_dtype_products_on_cpu = contextlib.nullcontext\n"
    "runpy.run_module('helion2json.worker', run_name='__main__')\n"
)


def def_line(text: str, kernel: str) -> int:
    """The 1-based line of the kernel's ``def``, where reports about it go."""
    lines = text.split("\n")
    return next(index for index, line in enumerate(lines) if f"def {kernel}(" in line) + 1
