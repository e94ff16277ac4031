"""A reference lowering of helion2json documents to upstream MLIR, and its driver.

``lower_document(document)`` writes one function as textual MLIR (func, arith, math,
scf, tensor, linalg, bufferization, memref); ``harness`` adds a ``main`` that runs it
on example inputs; ``check_with_mlir`` runs that with ``mlir-opt`` and ``mlir-runner``
and compares with the reference interpreter. See docs/mlir.md.

- ``values``: the lowering's values, MLIR types, the text builder, ``LoweringError``.
- ``lower``: regions (tile loops, ifs), names, expressions, operands, the op dispatch.
- ``elements``: ``tensor.generate`` values, loop nests, broadcast reads.
- ``memory``: allocations, loads, stores, atomics. ``math``: torch math, reductions,
  matrix products. ``device``: the ``hl`` value ops, views, scans, the torch dispatch.
- ``module``: the kernel function and the harness. ``tools``: ``mlir-opt`` and
  ``mlir-runner``. ``run``: run and compare.
"""

from helion2json.mlir.module import harness, lower_document
from helion2json.mlir.run import MlirCheck, check_with_mlir, run_with_mlir
from helion2json.mlir.tools import PIPELINE, ToolError, find_tools
from helion2json.mlir.values import LoweringError

__all__ = [
    "PIPELINE",
    "LoweringError",
    "MlirCheck",
    "ToolError",
    "check_with_mlir",
    "find_tools",
    "harness",
    "lower_document",
    "run_with_mlir",
]
