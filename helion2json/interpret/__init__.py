"""The reference interpreter: execute a helion2json document with PyTorch.

``run_document(document, args)`` runs one function of a document on concrete
inputs and returns the tensors its ``hl.return`` names. It reads nothing but
the document and the inputs (it never imports helion), so a document that
runs here and matches the kernel's own results carries everything needed to
execute the kernel: that is how ``helion2json.core.verify`` proves the format
lossless, kernel by kernel.

Semantics follow ``docs/json-format.md``; ``docs/verify.md`` lists the
choices the format leaves to an implementation and how this one makes them.
Every op is executed or rejected with an ``InterpretError`` naming it: nothing
is skipped.

- ``machine``: the program tree (tile loops, ifs) and the interpreter running it.
- ``registry``: ``executes``, which registers one executor per op name of
  ``helion2json.core.ops``.
- executors by op family: ``memory``, ``tensors``, ``tiles``, ``reductions``,
  ``torch_ops``; with ``indexing`` (windows, index entries) and ``values``.
- ``types``: every computed value against the type its op records.
- ``writes``: the parallel-write rule (programs of a launch store disjoint elements).
- ``document``: ``run_document``.
"""

# The op families register their executors when imported.
from helion2json.interpret import memory, reductions, tensors, tiles, torch_ops  # noqa: F401
from helion2json.interpret.document import run_document
from helion2json.interpret.values import InterpretError, Tile, dtype_of

__all__ = [
    "InterpretError",
    "Tile",
    "dtype_of",
    "run_document",
]
