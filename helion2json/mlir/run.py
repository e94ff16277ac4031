"""Run a document through MLIR and compare its outputs with the reference interpreter's.

``run_with_mlir`` lowers the document with its example arguments into a module with
a ``main`` harness, runs ``mlir-opt`` (the pipeline of ``tools.PIPELINE``) and
``mlir-runner``, and decodes the printed outputs; ``check_with_mlir`` compares them
with ``helion2json.interpret`` on the same inputs, with verify's tolerances.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from helion2json.mlir.module import harness, select_function
from helion2json.mlir.tools import Tools, find_tools, lower_to_llvm, run_main

if TYPE_CHECKING:
    import torch

__all__ = ["MlirCheck", "check_with_mlir", "decode_outputs", "run_with_mlir"]

_PRINTED = re.compile(r"sizes = \[([0-9, ]*)\][^\n]*data =\s*\n?(.*?)(?=Unranked Memref|\Z)", re.S)


def decode_outputs(printed: str, elems: Sequence[str]) -> list[torch.Tensor]:
    """The tensors ``printMemrefI64`` printed, their bits read back as ``elems``."""
    import torch

    found = _PRINTED.findall(printed)
    if len(found) != len(elems):
        raise ValueError(f"mlir-runner printed {len(found)} outputs, expected {len(elems)}")
    outputs = []
    for (sizes, data), elem in zip(found, elems, strict=True):
        shape = [int(s) for s in sizes.replace(" ", "").split(",") if s]
        numbers = [int(n) for n in re.findall(r"-?\d+", data)]
        bits = torch.tensor(numbers, dtype=torch.int64).reshape(shape)
        outputs.append(_from_bits(bits, elem))
    return outputs


def _from_bits(bits: torch.Tensor, elem: str) -> torch.Tensor:
    import torch

    from helion2json.core.dtypes import torch_dtype

    if elem == "f64":
        return bits.view(torch.float64)
    if elem in ("f32", "f16", "bf16"):
        single = bits.to(torch.int32).view(torch.float32)
        return single.to(torch_dtype(elem))
    return bits.to(torch_dtype(elem))


@dataclass(frozen=True)
class MlirCheck:
    """Each output of the MLIR run beside the interpreter's: ``mismatches`` names the bad ones."""

    outputs: list[torch.Tensor]
    expected: list[torch.Tensor]
    mismatches: list[str]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def run_with_mlir(
    document: Mapping[str, Any],
    args: Sequence[Any],
    *,
    func: str | None = None,
    tools: Tools | None = None,
    generator: torch.Generator | None = None,
) -> list[torch.Tensor]:
    """The outputs of ``document`` run on ``args`` by ``mlir-opt`` + ``mlir-runner``
    (random seeds, if the kernel reads any, drawn from ``generator``)."""
    tools = tools or find_tools()
    text = harness(document, args, func=func, generator=generator)
    printed = run_main(tools, lower_to_llvm(tools, text))
    function = select_function(document, func)
    elems = [
        ret["type"]["tensor"]["elem"] if "tensor" in ret["type"] else ret["type"]["scalar"]
        for ret in function["rets"]
        if "none" not in ret["type"]
    ]
    return decode_outputs(printed, elems)


def check_with_mlir(
    document: Mapping[str, Any],
    args: Sequence[Any],
    *,
    func: str | None = None,
    tools: Tools | None = None,
) -> MlirCheck:
    """Run ``document`` with MLIR and with the interpreter on copies of ``args``; compare."""
    import torch

    from helion2json.core.verify import compare_tensors, tolerance
    from helion2json.interpret import run_document

    def copies() -> list[Any]:
        return [a.clone() if isinstance(a, torch.Tensor) else a for a in args]

    # Both runs draw the launch's random seeds from generators in the same state.
    outputs = run_with_mlir(
        document, copies(), func=func, tools=tools, generator=torch.Generator().manual_seed(0)
    )
    returned = run_document(
        document, copies(), func=func, generator=torch.Generator().manual_seed(0)
    )
    expected = [t.cpu() for t in returned if t is not None]
    length = max((max(t.shape, default=1) for t in args if isinstance(t, torch.Tensor)), default=1)
    mismatches = []
    for position, (got, want) in enumerate(zip(outputs, expected, strict=True)):
        atol, rtol = tolerance(want.dtype, length)
        ok, max_abs, max_rel, problem = compare_tensors(got, want, atol=atol, rtol=rtol)
        if not ok:
            detail = problem or f"max abs error {max_abs:.3g}, max rel error {max_rel:.3g}"
            mismatches.append(f"output {position}: {detail}")
    return MlirCheck(outputs, expected, mismatches)
