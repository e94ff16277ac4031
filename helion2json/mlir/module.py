"""A document's function as an MLIR ``func.func``, and the ``main`` harness that runs it.

The kernel takes its tensor arguments as ``memref<?x...xT>`` (extents known only at
run time, so edge tiles are real) and its ``float``/``int``/``bool`` arguments as
``f64``/``i64``/``i1``; arguments Helion specialised on (dtypes, devices, ``None``,
strings, callables) are not parameters: the body never names them. It returns the
memrefs its ``hl.return`` names. The harness's ``main`` holds the example inputs as
dense constants (their raw bytes), calls the kernel and prints every output's bits
with ``printMemrefI64`` so that the driver reads them back exactly.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

# The op families register their lowering when imported.
from helion2json.mlir import combine, device, memory  # noqa: F401
from helion2json.mlir.lower import Lowering, program_tree
from helion2json.mlir.values import HostValue, LoweringError, ScalarValue, mlir_elem, signless

if TYPE_CHECKING:
    import torch

__all__ = ["harness", "kernel_function", "lower_document", "select_function"]

_SCALAR_ARGUMENTS = {"f64": "f64", "i64": "i64", "i1": "i1", "f32": "f32"}


def select_function(document: Mapping[str, Any], func: str | None) -> Mapping[str, Any]:
    funcs = document.get("module", {}).get("funcs", [])
    if not funcs:
        raise LoweringError("the document has no function")
    if func is None:
        if len(funcs) > 1:
            names = ", ".join(f["name"] for f in funcs)
            raise LoweringError(f"the document has several functions ({names}); name one")
        return funcs[0]
    for candidate in funcs:
        if candidate["name"] == func:
            return candidate
    raise LoweringError(f"the document has no function {func!r}")


def parameters(function: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """``(name, kind, type)`` of each MLIR parameter: kind ``tensor`` or ``scalar``."""
    found = []
    for argument in function["args"]:
        declared = argument["type"]
        if "tensor" in declared:
            found.append((argument["id"], "tensor", declared["tensor"]))
        elif "scalar" in declared:
            found.append((argument["id"], "scalar", declared["scalar"]))
    return found


# The parameter that holds a launch's random seeds (hl.rng_seed), after the kernel's own.
SEEDS = "%rng_seeds"


def seed_slots(function: Mapping[str, Any]) -> int:
    """How many seeds the function's ``hl.rng_seed`` ops read (slots ``0 ... n-1``)."""
    slots = [op["slot"] for op in function["body"] if op.get("op") == "hl.rng_seed"]
    return max(slots) + 1 if slots else 0


def kernel_function(function: Mapping[str, Any]) -> tuple[str, list[HostValue]]:
    """The ``func.func`` text of one function and its returned host tensors."""
    lw = Lowering(function)
    b = lw.b
    signature = []
    for name, kind, declared in parameters(function):
        ssa = f"%arg_{name}"
        if kind == "tensor":
            try:
                elem = mlir_elem(declared["elem"])
            except LoweringError as exc:
                raise LoweringError(f"argument {name!r}: {exc.message}") from None
            rank = len(declared["shape"])
            host = HostValue(ssa, elem, ("",) * rank)
            signature.append(f"{ssa}: {host.type}")
            dims = []
            for axis in range(rank):
                axis_index = b.index(axis)
                dims.append(b.assign(f"memref.dim {ssa}, {axis_index} : {host.type}", "dim"))
            lw.define(name, HostValue(ssa, elem, tuple(dims)))
        else:
            scalar = _SCALAR_ARGUMENTS.get(declared)
            if scalar is None:
                raise LoweringError(f"scalar argument {name!r} of type {declared}")
            signature.append(f"{ssa}: {scalar}")
            lw.define(name, ScalarValue(ssa, scalar))
    slots = seed_slots(function)
    if slots:
        seeds = HostValue(SEEDS, "i64", ("",))
        signature.append(f"{SEEDS}: {seeds.type}")
        lw.seeds = seeds
    lw.block(program_tree(function["body"]))
    results = ", ".join(host.type for host in lw.returned)
    b.line(
        f"return {', '.join(h.ssa for h in lw.returned)}" + (f" : {results}" if lw.returned else "")
    )
    header = f"func.func @{function['name']}({', '.join(signature)}) -> ({results}) {{"
    return "\n".join([header, b.text(), "}"]), lw.returned


def lower_document(document: Mapping[str, Any], *, func: str | None = None) -> str:
    """The MLIR module of one function of ``document`` (the only one when ``func`` is None).

    Raises ``LoweringError`` naming the op and its source location for anything the
    lowering cannot express.
    """
    text, _ = kernel_function(select_function(document, func))
    return signless(f"module {{\n{textwrap.indent(text, '  ')}\n}}\n")


def _dense(values: Any, elem: str) -> str:
    import torch

    tensor = values.detach().to("cpu").contiguous()
    if elem == "i1":
        nested = str(tensor.tolist()).replace("True", "true").replace("False", "false")
        return f"dense<{nested}>"
    raw = tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
    return f'dense<"0x{raw.hex().upper()}">'


def _printed(b: Any, host: HostValue) -> str:
    """``host`` as ``memref<*xi64>`` of its elements' bits (floats bitcast, f16/bf16 through
    f32, integers sign-extended)."""
    elem = host.elem
    wide = HostValue("", "i64", host.dims)
    copy = b.assign(f"memref.alloc({', '.join(host.dims)}) : {wide.type}")
    rank = len(host.dims)
    axes = ", ".join(f"d{i}" for i in range(rank))
    identity = f"affine_map<({axes}) -> ({axes})>"
    parallel = ", ".join(['"parallel"'] * rank)
    b.line(
        f"linalg.generic {{indexing_maps = [{identity}, {identity}], iterator_types = "
        f"[{parallel}]}} ins({host.ssa} : {host.type}) outs({copy} : {wide.type}) {{"
    )
    with b.nested():
        b.line(f"^bb0(%x: {elem}, %o: i64):")
        if elem in ("f16", "bf16", "f32"):
            single = b.convert("%x", elem, "f32")
            bits = b.assign(f"arith.bitcast {single} : f32 to i32")
            value = b.assign(f"arith.extui {bits} : i32 to i64")
        elif elem == "f64":
            value = b.assign("arith.bitcast %x : f64 to i64")
        else:
            value = b.convert("%x", elem, "i64")
        b.line(f"linalg.yield {value} : i64")
    b.line("}")
    return b.assign(f"memref.cast {copy} : {wide.type} to memref<*xi64>")


def harness(
    document: Mapping[str, Any],
    args: Sequence[Any],
    *,
    func: str | None = None,
    generator: torch.Generator | None = None,
) -> str:
    """A module with the kernel and a ``main`` that runs it on ``args`` (the kernel's
    example arguments, as the interpreter takes them) and prints its outputs.

    A kernel that reads random seeds (``hl.rng_seed``) gets them drawn as the interpreter
    draws them, ``torch.randint(2**63 - 1, [slots])`` from ``generator`` (else torch's
    default generator), so that both compute with the same seeds for the same generator.
    """
    import torch

    from helion2json.mlir.values import Builder

    function = select_function(document, func)
    kernel, returned = kernel_function(function)
    b = Builder()
    globals_: list[str] = []
    operands: list[str] = []
    names = [argument["id"] for argument in function["args"]]
    if len(args) != len(names):
        raise LoweringError(f"{len(args)} example arguments for {len(names)} parameters")
    by_name = dict(zip(names, args, strict=True))
    for name, kind, declared in parameters(function):
        value = by_name[name]
        if kind == "tensor":
            if not isinstance(value, torch.Tensor):
                raise LoweringError(f"argument {name!r} is not a tensor")
            elem = mlir_elem(declared["elem"])
            shape = "".join(f"{extent}x" for extent in value.shape)
            dynamic = "".join("?x" for _ in value.shape)
            globals_.append(
                f'  memref.global "private" @input_{name} : memref<{shape}{elem}> = '
                f"{_dense(value, elem)}"
            )
            fixed = b.assign(f"memref.get_global @input_{name} : memref<{shape}{elem}>")
            operands.append(
                b.assign(f"memref.cast {fixed} : memref<{shape}{elem}> to memref<{dynamic}{elem}>")
            )
        else:
            elem = _SCALAR_ARGUMENTS[declared]
            number = float(value) if elem.startswith("f") else int(value)
            operands.append(b.constant(number, elem))
    slots = seed_slots(function)
    if slots:
        seeds = torch.randint(2**63 - 1, [slots], dtype=torch.int64, generator=generator)
        globals_.append(
            f'  memref.global "private" @input_rng_seeds : memref<{slots}xi64> = '
            f"{_dense(seeds, 'i64')}"
        )
        fixed = b.assign(f"memref.get_global @input_rng_seeds : memref<{slots}xi64>")
        operands.append(b.assign(f"memref.cast {fixed} : memref<{slots}xi64> to memref<?xi64>"))
    types = ", ".join(h.type for h in returned)
    parameter_types = [
        (
            f"memref<{'?x' * len(d['shape'])}{mlir_elem(d['elem'])}>"
            if kind == "tensor"
            else _SCALAR_ARGUMENTS[d]
        )
        for _, kind, d in parameters(function)
    ]
    signature = ", ".join(parameter_types + (["memref<?xi64>"] if slots else []))
    call = f"call @{function['name']}({', '.join(operands)}) : ({signature}) -> ({types})"
    outputs = b.fresh("out")
    b.line(f"{outputs}:{len(returned)} = {call}" if returned else call)
    for position, host in enumerate(returned):
        result = f"{outputs}#{position}" if len(returned) > 1 else outputs
        dims = []
        for axis in range(len(host.dims)):
            axis_index = b.index(axis)
            dims.append(b.assign(f"memref.dim {result}, {axis_index} : {host.type}"))
        printed = _printed(b, HostValue(result, host.elem, tuple(dims)))
        b.line(f"call @printMemrefI64({printed}) : (memref<*xi64>) -> ()")
    b.line("return")
    if len(returned) == 1:
        b.lines = [line.replace(f"{outputs}:1 = ", f"{outputs} = ") for line in b.lines]
    main = textwrap.indent("\n".join(["func.func @main() {", b.text(), "}"]), "  ")
    return signless(
        "\n".join(
            [
                "module {",
                textwrap.indent(kernel, "  "),
                *globals_,
                "  func.func private @printMemrefI64(memref<*xi64>)",
                main,
                "}",
                "",
            ]
        )
    )
